#include "reconcilerd/store/record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static uint32_t crc_table[8][256];
static int crc_hw;

/* Tables are built once before main() runs: no locking needed on the hot path. */
__attribute__((constructor)) static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_sse42(uint32_t crc, const unsigned char *p,
                                                            size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (len--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return c32;
}
#endif

static uint32_t crc_soft(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len >= 8) {
        uint32_t lo;
        uint32_t hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= crc; /* little-endian hosts only, like the rest of the format code */
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
              crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
              crc_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return crc;
}

uint32_t store_crc32c(uint32_t crc, const void *buf, size_t len)
{
    crc = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc_sse42(crc, buf, len);
#endif
    return ~crc_soft(crc, buf, len);
}

static void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}

static uint32_t get_u32(const char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

static uint64_t get_u64(const char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | (unsigned char)p[i];
    return v;
}

size_t store_rec_size(size_t key_len, size_t value_len)
{
    return STORE_REC_HDR_LEN + STORE_REC_FIXED_LEN + key_len + value_len;
}

static uint32_t rec_crc(const char *buf, uint32_t body_len)
{
    uint32_t c = store_crc32c(0, buf, 4);
    return store_crc32c(c, buf + STORE_REC_HDR_LEN, body_len);
}

void store_rec_encode(char *buf, enum store_rec_op op, uint64_t rev, uint64_t create_rev,
                      const char *key, size_t key_len, const char *value, size_t value_len)
{
    uint32_t body_len = (uint32_t)(STORE_REC_FIXED_LEN + key_len + value_len);
    char *b = buf + STORE_REC_HDR_LEN;
    put_u32(buf, body_len);
    b[0] = (char)op;
    put_u64(b + 1, rev);
    put_u64(b + 9, create_rev);
    put_u32(b + 17, (uint32_t)key_len);
    if (key_len)
        memcpy(b + STORE_REC_FIXED_LEN, key, key_len);
    if (value_len)
        memcpy(b + STORE_REC_FIXED_LEN + key_len, value, value_len);
    put_u32(buf + 4, rec_crc(buf, body_len));
}

void store_rec_patch(char *buf, uint64_t rev, uint64_t create_rev)
{
    char *b = buf + STORE_REC_HDR_LEN;
    put_u64(b + 1, rev);
    put_u64(b + 9, create_rev);
    put_u32(buf + 4, rec_crc(buf, get_u32(buf)));
}

enum store_rec_status store_rec_decode(const char *buf, size_t avail, struct store_rec *out)
{
    if (avail < STORE_REC_HDR_LEN)
        return STORE_REC_SHORT;
    uint32_t body_len = get_u32(buf);
    if (body_len < STORE_REC_FIXED_LEN || body_len > STORE_REC_MAX_BODY)
        return STORE_REC_BAD_LEN;
    if (avail - STORE_REC_HDR_LEN < body_len)
        return STORE_REC_SHORT;
    if (get_u32(buf + 4) != rec_crc(buf, body_len))
        return STORE_REC_BAD_CRC;
    const char *b = buf + STORE_REC_HDR_LEN;
    unsigned op = (unsigned char)b[0];
    uint32_t key_len = get_u32(b + 17);
    if (op < STORE_REC_CREATE || op > STORE_REC_SNAP_END || key_len > STORE_MAX_KEY ||
        key_len > body_len - STORE_REC_FIXED_LEN)
        return STORE_REC_BAD_BODY;
    out->op = (enum store_rec_op)op;
    out->rev = get_u64(b + 1);
    out->create_rev = get_u64(b + 9);
    out->key = b + STORE_REC_FIXED_LEN;
    out->key_len = key_len;
    out->value = out->key + key_len;
    out->value_len = body_len - STORE_REC_FIXED_LEN - key_len;
    out->len = STORE_REC_HDR_LEN + (size_t)body_len;
    return STORE_REC_OK;
}

const char *store_rec_status_str(enum store_rec_status s)
{
    switch (s) {
    case STORE_REC_OK:
        return "ok";
    case STORE_REC_SHORT:
        return "truncated record";
    case STORE_REC_BAD_LEN:
        return "invalid record length";
    case STORE_REC_BAD_CRC:
        return "checksum mismatch";
    case STORE_REC_BAD_BODY:
        return "malformed record";
    }
    return "unknown";
}

void store_file_hdr_encode(char *buf, const char *magic, uint64_t rev)
{
    memcpy(buf, magic, 8);
    put_u64(buf + 8, rev);
    put_u32(buf + 16, STORE_FORMAT_VERSION);
    put_u32(buf + 20, store_crc32c(0, buf, 20));
}

int store_file_hdr_check(const char *buf, size_t avail, const char *magic, uint64_t *rev)
{
    if (avail < STORE_FILE_HDR_LEN || memcmp(buf, magic, 8) != 0 || get_u32(buf + 16) < 1 ||
        get_u32(buf + 16) > STORE_FORMAT_VERSION || get_u32(buf + 20) != store_crc32c(0, buf, 20))
        return -EINVAL;
    *rev = get_u64(buf + 8);
    return 0;
}

uint32_t store_file_hdr_version(const char *buf)
{
    return get_u32(buf + 16);
}

/* ---- locating metadata without a parse ---------------------------------------------- */

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] == '"'; returns the index just past the closing quote, or n when unterminated. */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return n;
}

/* Skips one JSON value starting at s[i]; returns the index just past it, or n. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return n;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] == '{' || s[i] == '[') {
        size_t depth = 0;
        while (i < n) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, i, n);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return n;
    }
    while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
           s[i] != '\n' && s[i] != '\r')
        i++;
    return i;
}

int store_json_meta_off(const char *js, size_t len, size_t *out)
{
    size_t i = skip_ws(js, 0, len);
    if (i >= len || js[i] != '{')
        return -1;
    i++;
    for (;;) {
        i = skip_ws(js, i, len);
        if (i >= len || js[i] != '"')
            return -1;
        size_t k = i + 1;
        i = skip_string(js, i, len);
        if (i >= len)
            return -1;
        /* jansson never escapes letters, so an escaped key is never "metadata". */
        bool is_meta = i - 1 - k == 8 && memcmp(js + k, "metadata", 8) == 0;
        i = skip_ws(js, i, len);
        if (i >= len || js[i] != ':')
            return -1;
        i = skip_ws(js, i + 1, len);
        if (is_meta) {
            if (i >= len || js[i] != '{')
                return -1;
            *out = i + 1;
            return 0;
        }
        i = skip_ws(js, skip_value(js, i, len), len);
        if (i >= len || js[i] != ',')
            return -1;
        i++;
    }
}

#define RV_KEY "\"resourceVersion\":\""

size_t store_rv_splice(char *out, const char *js, size_t js_len, size_t meta_off, uint64_t rev,
                       uint32_t *rv_off, uint8_t *rv_len)
{
    char digits[24];
    int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)rev);
    size_t o = 0;
    memcpy(out, js, meta_off);
    o = meta_off;
    memcpy(out + o, RV_KEY, sizeof(RV_KEY) - 1);
    o += sizeof(RV_KEY) - 1;
    *rv_off = (uint32_t)o;
    *rv_len = (uint8_t)nd;
    memcpy(out + o, digits, (size_t)nd);
    o += (size_t)nd;
    out[o++] = '"';
    size_t rest = skip_ws(js, meta_off, js_len);
    if (rest < js_len && js[rest] != '}')
        out[o++] = ',';
    memcpy(out + o, js + meta_off, js_len - meta_off);
    return o + js_len - meta_off;
}

int store_rv_locate(const char *js, size_t len, uint64_t rev, uint32_t *rv_off, uint8_t *rv_len)
{
    size_t m;
    char digits[24];
    if (store_json_meta_off(js, len, &m) < 0)
        return -1;
    int nd = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)rev);
    size_t kl = sizeof(RV_KEY) - 1;
    if (len - m < kl + (size_t)nd + 1 || memcmp(js + m, RV_KEY, kl) != 0 ||
        memcmp(js + m + kl, digits, (size_t)nd) != 0 || js[m + kl + (size_t)nd] != '"')
        return -1;
    *rv_off = (uint32_t)(m + kl);
    *rv_len = (uint8_t)nd;
    return 0;
}
