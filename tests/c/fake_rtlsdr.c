/*
 * A stand-in for librtlsdr that "receives" a cu8 recording instead of a dongle.
 *
 * Tests build it with gcc into librtlsdr.so.0 (soname included) so that both pyrtlsdr (whose
 * loader the tests point at this file) and SoapySDR's rtlsdr module (through LD_LIBRARY_PATH)
 * run their real code against it: device enumeration, open, gain/frequency/rate calls, sync and
 * async reads.
 *
 * Environment:
 *   FAKE_RTLSDR_FILE    cu8 file to serve; without it no device is present.
 *   FAKE_RTLSDR_SERIAL  serial number of the single device (default "00000001").
 *   FAKE_RTLSDR_LOG     if set, every configuration call appends "name value" to this file,
 *                       so a test can check what reached the "hardware".
 *
 * Asynchronous reads deliver at the sample rate, like hardware. At the end of the file the
 * dongle behaves as unplugged: read_sync fails with LIBUSB_ERROR_NO_DEVICE and read_async
 * returns without anybody having cancelled it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API __attribute__((visibility("default")))
#define LIBUSB_ERROR_NO_DEVICE (-4)
#define LIBUSB_ERROR_NOT_FOUND (-5)
#define TUNER_R820T 5
#define DEFAULT_ASYNC_BUF_LEN (16 * 32 * 512)

typedef struct rtlsdr_dev {
    FILE *samples;
    uint32_t center_freq_hz;
    uint32_t sample_rate_hz;
    int gain_tenth_db;
    int manual_gain;
    int ppm;
    volatile int cancel_requested;
    int lost;
} rtlsdr_dev_t;

typedef void (*rtlsdr_read_async_cb_t)(unsigned char *buf, uint32_t len, void *ctx);

/* The R820T's gain table in tenths of a dB, as real dongles report it. */
static const int r820t_gains[] = {0,   9,   14,  27,  37,  77,  87,  125, 144, 157,
                                  166, 197, 207, 229, 254, 280, 297, 328, 338, 364,
                                  372, 386, 402, 421, 434, 439, 445, 480, 496};
#define N_GAINS ((int)(sizeof(r820t_gains) / sizeof(r820t_gains[0])))

/* Open handles, so that a call on a closed one is reported instead of touching freed memory
 * (real librtlsdr would corrupt the heap). */
#define MAX_OPEN 8
static rtlsdr_dev_t *open_devices[MAX_OPEN];

static int is_open(const rtlsdr_dev_t *dev)
{
    for (int i = 0; i < MAX_OPEN; i++)
        if (dev && open_devices[i] == dev)
            return 1;
    return 0;
}

static void track(rtlsdr_dev_t *dev, rtlsdr_dev_t *replacement)
{
    for (int i = 0; i < MAX_OPEN; i++)
        if (open_devices[i] == dev) {
            open_devices[i] = replacement;
            return;
        }
}

static void log_call(const char *fmt, ...)
{
    const char *path = getenv("FAKE_RTLSDR_LOG");
    if (!path)
        return;
    FILE *log = fopen(path, "a");
    if (!log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(log, fmt, ap);
    va_end(ap);
    fputc('\n', log);
    fclose(log);
}

static const char *serial(void)
{
    const char *s = getenv("FAKE_RTLSDR_SERIAL");
    return s ? s : "00000001";
}

API uint32_t rtlsdr_get_device_count(void) { return getenv("FAKE_RTLSDR_FILE") ? 1 : 0; }

API const char *rtlsdr_get_device_name(uint32_t index)
{
    return index < rtlsdr_get_device_count() ? "Generic RTL2832U OEM (fake)" : "";
}

API int rtlsdr_get_device_usb_strings(uint32_t index, char *manufact, char *product, char *ser)
{
    if (index >= rtlsdr_get_device_count())
        return -1;
    if (manufact)
        strcpy(manufact, "Realtek");
    if (product)
        strcpy(product, "RTL2838UHIDIR");
    if (ser)
        snprintf(ser, 256, "%s", serial());
    return 0;
}

API int rtlsdr_get_usb_strings(rtlsdr_dev_t *dev, char *manufact, char *product, char *ser)
{
    (void)dev;
    return rtlsdr_get_device_usb_strings(0, manufact, product, ser);
}

API int rtlsdr_get_index_by_serial(const char *ser)
{
    if (!ser)
        return -1;
    if (rtlsdr_get_device_count() == 0)
        return -2;
    return strcmp(ser, serial()) == 0 ? 0 : -3;
}

API int rtlsdr_open(rtlsdr_dev_t **out, uint32_t index)
{
    *out = NULL;
    if (index >= rtlsdr_get_device_count())
        return LIBUSB_ERROR_NOT_FOUND;
    FILE *f = fopen(getenv("FAKE_RTLSDR_FILE"), "rb");
    if (!f)
        return -ENOENT;
    rtlsdr_dev_t *dev = calloc(1, sizeof(*dev));
    if (!dev) {
        fclose(f);
        return -ENOMEM;
    }
    dev->samples = f;
    track(NULL, dev);
    log_call("open %u", index);
    *out = dev;
    return 0;
}

API int rtlsdr_close(rtlsdr_dev_t *dev)
{
    if (!is_open(dev)) {
        log_call("ERROR close of a device that is not open");
        return -1;
    }
    track(dev, NULL);
    fclose(dev->samples);
    free(dev);
    log_call("close");
    return 0;
}

API int rtlsdr_set_center_freq(rtlsdr_dev_t *dev, uint32_t freq)
{
    dev->center_freq_hz = freq;
    log_call("set_center_freq %u", freq);
    return 0;
}

API uint32_t rtlsdr_get_center_freq(rtlsdr_dev_t *dev) { return dev->center_freq_hz; }

API int rtlsdr_set_sample_rate(rtlsdr_dev_t *dev, uint32_t rate)
{
    /* The RTL2832U's usable ranges, which librtlsdr enforces the same way. */
    if (rate <= 225000 || rate > 3200000 || (rate > 300000 && rate <= 900000))
        return -EINVAL;
    dev->sample_rate_hz = rate;
    log_call("set_sample_rate %u", rate);
    return 0;
}

API uint32_t rtlsdr_get_sample_rate(rtlsdr_dev_t *dev) { return dev->sample_rate_hz; }

API int rtlsdr_set_freq_correction(rtlsdr_dev_t *dev, int ppm)
{
    dev->ppm = ppm;
    log_call("set_freq_correction %d", ppm);
    return 0;
}

API int rtlsdr_get_freq_correction(rtlsdr_dev_t *dev) { return dev->ppm; }

API int rtlsdr_get_tuner_type(rtlsdr_dev_t *dev)
{
    (void)dev;
    return TUNER_R820T;
}

API int rtlsdr_get_tuner_gains(rtlsdr_dev_t *dev, int *gains)
{
    (void)dev;
    if (gains)
        memcpy(gains, r820t_gains, sizeof(r820t_gains));
    return N_GAINS;
}

API int rtlsdr_set_tuner_gain(rtlsdr_dev_t *dev, int gain)
{
    dev->gain_tenth_db = gain;
    log_call("set_tuner_gain %d", gain);
    return 0;
}

API int rtlsdr_get_tuner_gain(rtlsdr_dev_t *dev) { return dev->gain_tenth_db; }

API int rtlsdr_set_tuner_gain_mode(rtlsdr_dev_t *dev, int manual)
{
    dev->manual_gain = manual;
    log_call("set_tuner_gain_mode %d", manual);
    return 0;
}

API int rtlsdr_set_tuner_if_gain(rtlsdr_dev_t *dev, int stage, int gain)
{
    (void)dev;
    log_call("set_tuner_if_gain %d %d", stage, gain);
    return 0;
}

API int rtlsdr_set_tuner_bandwidth(rtlsdr_dev_t *dev, uint32_t bw)
{
    (void)dev;
    log_call("set_tuner_bandwidth %u", bw);
    return 0;
}

/* Settings the fake has no use for: accepted and logged. */
#define ACCEPT_INT_SETTING(name)                  \
    API int rtlsdr_##name(rtlsdr_dev_t *dev, int on) \
    {                                             \
        (void)dev;                                \
        log_call(#name " %d", on);                \
        return 0;                                 \
    }
ACCEPT_INT_SETTING(set_agc_mode)
ACCEPT_INT_SETTING(set_direct_sampling)
ACCEPT_INT_SETTING(set_offset_tuning)
ACCEPT_INT_SETTING(set_bias_tee)
ACCEPT_INT_SETTING(set_testmode)
ACCEPT_INT_SETTING(set_dithering)
ACCEPT_INT_SETTING(set_gpio_byte)

API int rtlsdr_get_direct_sampling(rtlsdr_dev_t *dev)
{
    (void)dev;
    return 0;
}

API int rtlsdr_get_offset_tuning(rtlsdr_dev_t *dev)
{
    (void)dev;
    return 0;
}

/* pyrtlsdr binds the GPIO and crystal functions at import; they are never exercised here. */
API int rtlsdr_set_gpio_output(rtlsdr_dev_t *dev, uint8_t gpio) { (void)dev; (void)gpio; return 0; }
API int rtlsdr_set_gpio_input(rtlsdr_dev_t *dev, uint8_t gpio) { (void)dev; (void)gpio; return 0; }
API int rtlsdr_set_gpio_bit(rtlsdr_dev_t *dev, uint8_t gpio, int val)
{
    (void)dev; (void)gpio; (void)val;
    return 0;
}
API int rtlsdr_get_gpio_bit(rtlsdr_dev_t *dev, uint8_t gpio, int *val)
{
    (void)dev; (void)gpio;
    *val = 0;
    return 0;
}
API int rtlsdr_get_gpio_byte(rtlsdr_dev_t *dev, int *val)
{
    (void)dev;
    *val = 0;
    return 0;
}
API int rtlsdr_set_gpio_status(rtlsdr_dev_t *dev, int *status)
{
    (void)dev;
    *status = 0;
    return 0;
}
API int rtlsdr_set_xtal_freq(rtlsdr_dev_t *dev, uint32_t rtl_freq, uint32_t tuner_freq)
{
    (void)dev; (void)rtl_freq; (void)tuner_freq;
    return 0;
}
API int rtlsdr_get_xtal_freq(rtlsdr_dev_t *dev, uint32_t *rtl_freq, uint32_t *tuner_freq)
{
    (void)dev;
    if (rtl_freq)
        *rtl_freq = 28800000;
    if (tuner_freq)
        *tuner_freq = 28800000;
    return 0;
}

API int rtlsdr_reset_buffer(rtlsdr_dev_t *dev)
{
    (void)dev;
    log_call("reset_buffer");
    return 0;
}

API int rtlsdr_read_sync(rtlsdr_dev_t *dev, void *buf, int len, int *n_read)
{
    size_t n = dev->lost ? 0 : fread(buf, 1, (size_t)len, dev->samples);
    if (n_read)
        *n_read = (int)n;
    if (n == 0) {
        dev->lost = 1;
        return LIBUSB_ERROR_NO_DEVICE;
    }
    return 0;
}

API int rtlsdr_read_async(rtlsdr_dev_t *dev, rtlsdr_read_async_cb_t cb, void *ctx,
                          uint32_t buf_num, uint32_t buf_len)
{
    (void)buf_num;
    if (buf_len == 0)
        buf_len = DEFAULT_ASYNC_BUF_LEN;
    unsigned char *buf = malloc(buf_len);
    if (!buf)
        return -ENOMEM;
    log_call("read_async %u", buf_len);
    dev->cancel_requested = 0;
    while (!__atomic_load_n(&dev->cancel_requested, __ATOMIC_SEQ_CST) && !dev->lost) {
        size_t n = fread(buf, 1, buf_len, dev->samples);
        if (n < buf_len)
            dev->lost = 1;
        /* A dongle hands over a buffer once it has been filled at the sample rate; SoapySDR's
         * module, for one, discards whatever arrived before its first read. */
        if (dev->sample_rate_hz) {
            double seconds = (double)n / 2.0 / dev->sample_rate_hz;
            struct timespec pause = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
            nanosleep(&pause, NULL);
        }
        if (n > 0)
            cb(buf, (uint32_t)n, ctx);
    }
    free(buf);
    return 0;
}

API int rtlsdr_wait_async(rtlsdr_dev_t *dev, rtlsdr_read_async_cb_t cb, void *ctx)
{
    return rtlsdr_read_async(dev, cb, ctx, 0, 0);
}

API int rtlsdr_cancel_async(rtlsdr_dev_t *dev)
{
    if (!is_open(dev)) {
        log_call("ERROR cancel_async on a device that is not open");
        return -1;
    }
    __atomic_store_n(&dev->cancel_requested, 1, __ATOMIC_SEQ_CST);
    log_call("cancel_async");
    return 0;
}
