/* jscan — see jscan.h. One pass of a small table-driven scanner per value passed over;
 * nesting is tracked with a bit per level (object or array), so deep text costs no
 * recursion. */
#include "lib/jscan.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* Bytes that end the plain run of a string: the quote, the backslash, control chars. */
static const unsigned char str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1 /* " */, ['\\'] = 1,
};

static inline const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The 4 hex digits at p (end bounds them) as a number, or -1. */
static long hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* p at the opening quote: the byte after the closing quote, or NULL. *esc (may be NULL)
 * = whether the text holds an escape. */
/* Nonzero when one of the 8 bytes of v is a quote, a backslash or a control character
 * (the classic zero-byte tests: exact, no false positives). */
static inline uint64_t swar_stop(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    return (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v)) & high;
}

static const char *scan_string_esc(const char *p, const char *end, bool *esc)
{
    p++;
    for (;;) {
        /* 8 bytes at a time through the plain run, then byte by byte to its end */
        while (end - p >= 8) {
            uint64_t v;
            memcpy(&v, p, 8);
            if (swar_stop(v))
                break;
            p += 8;
        }
        while (p < end && !str_stop[(unsigned char)*p])
            p++;
        if (p >= end)
            return NULL;
        if (*p == '"')
            return p + 1;
        if (*p != '\\')
            return NULL; /* a raw control character */
        if (esc)
            *esc = true;
        if (++p >= end)
            return NULL;
        switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p++;
            break;
        case 'u': {
            long cp = hex4(p + 1, end);
            /* \u0000 is refused, as jansson refuses it without JSON_ALLOW_NUL (so decoded
             * strings are C strings); a low surrogate may only follow a high one */
            if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return NULL;
            p += 5;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                    return NULL;
                long lo = hex4(p + 2, end);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                p += 6;
            }
            break;
        }
        default:
            return NULL;
        }
    }
}

static const char *scan_string(const char *p, const char *end)
{
    return scan_string_esc(p, end, NULL);
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *scan_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p >= end || !is_digit(*p))
        return NULL;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

static const char *scan_literal(const char *p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

static enum jscan_type type_of(char c)
{
    switch (c) {
    case '{':
        return JSCAN_OBJECT;
    case '[':
        return JSCAN_ARRAY;
    case '"':
        return JSCAN_STRING;
    case 't':
        return JSCAN_TRUE;
    case 'f':
        return JSCAN_FALSE;
    case 'n':
        return JSCAN_NULL;
    default:
        return (c == '-' || is_digit(c)) ? JSCAN_NUMBER : JSCAN_NONE;
    }
}

/* p at a key's opening quote (after whitespace): the start of its value, or NULL. */
static const char *scan_key(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    p = scan_string(p, end);
    if (!p)
        return NULL;
    p = ws(p, end);
    if (p >= end || *p != ':')
        return NULL;
    return ws(p + 1, end);
}

/* p at the first byte of a value (no whitespace before it): the byte after the value,
 * or NULL when it is malformed. */
static const char *scan_value(const char *p, const char *end)
{
    uint8_t objbit[JSCAN_MAX_DEPTH / 8];
    size_t depth = 0;
    for (;;) {
        /* p: the start of a value */
        if (p >= end)
            return NULL;
        char c = *p;
        if (c == '{' || c == '[') {
            if (depth == JSCAN_MAX_DEPTH)
                return NULL;
            bool obj = c == '{';
            if (obj)
                objbit[depth / 8] |= (uint8_t)(1u << (depth % 8));
            else
                objbit[depth / 8] &= (uint8_t)~(1u << (depth % 8));
            depth++;
            p = ws(p + 1, end);
            if (p >= end)
                return NULL;
            if (*p == (obj ? '}' : ']')) {
                p++;
                depth--;
            } else {
                if (obj && !(p = scan_key(p, end)))
                    return NULL;
                continue; /* the first member's value */
            }
        } else if (c == '"') {
            p = scan_string(p, end);
        } else if (c == 't') {
            p = scan_literal(p, end, "true", 4);
        } else if (c == 'f') {
            p = scan_literal(p, end, "false", 5);
        } else if (c == 'n') {
            p = scan_literal(p, end, "null", 4);
        } else {
            p = scan_number(p, end);
        }
        if (!p)
            return NULL;
        /* after a value: separators and closing brackets until the next value */
        for (;;) {
            if (depth == 0)
                return p;
            bool obj = objbit[(depth - 1) / 8] & (1u << ((depth - 1) % 8));
            p = ws(p, end);
            if (p >= end)
                return NULL;
            if (*p == ',') {
                p = ws(p + 1, end);
                if (obj && !(p = scan_key(p, end)))
                    return NULL;
                break;
            }
            if (*p != (obj ? '}' : ']'))
                return NULL;
            p++;
            depth--;
        }
    }
}

int jscan_doc(const char *json, size_t len, struct jscan_val *out)
{
    const char *end = json + len;
    const char *p = ws(json, end);
    if (p >= end)
        return -EINVAL;
    const char *e = scan_value(p, end);
    if (!e || ws(e, end) != end)
        return -EINVAL;
    out->type = type_of(*p);
    out->p = p;
    out->len = (size_t)(e - p);
    return 0;
}

/* ---- jscan_find: many paths, one pass ------------------------------------------------ */

/* The length of a path step (up to the next '.' or the end). */
static size_t step_len(const char *step)
{
    const char *dot = strchr(step, '.');
    return dot ? (size_t)(dot - step) : strlen(step);
}

/* p at an object's '{'; cands = the wants whose earlier steps led here, step[i] = want i's
 * step at this level. Walks the object, descending into members that lead further down
 * instead of skipping them, so every byte is scanned once. The byte after the object, or
 * NULL when the text is malformed. */
static const char *find_in(const char *p, const char *end, struct jscan_want *w,
                           uint32_t cands, const char *const *step)
{
    /* each want's step here, measured once per object rather than once per key */
    size_t slen[JSCAN_FIND_MAX];
    const char *next[JSCAN_FIND_MAX];
    uint32_t last = 0; /* wants whose path ends with this step */
    for (uint32_t c = cands; c; c &= c - 1) {
        int i = __builtin_ctz(c);
        size_t n = step_len(step[i]);
        slen[i] = n;
        next[i] = step[i] + n + (step[i][n] == '.');
        if (*next[i] == '\0') /* a trailing dot ends the path too, as in jsonx_get */
            last |= 1u << i;
    }
    p = ws(p + 1, end);
    if (p >= end)
        return NULL;
    if (*p == '}')
        return p + 1;
    for (;;) {
        if (*p != '"')
            return NULL;
        struct jscan_val key = {JSCAN_STRING, p, 0};
        bool esc = false;
        const char *ke = scan_string_esc(p, end, &esc);
        if (!ke)
            return NULL;
        key.len = (size_t)(ke - p);
        p = ws(ke, end);
        if (p >= end || *p != ':')
            return NULL;
        p = ws(p + 1, end);
        if (p >= end)
            return NULL;
        const char *vs = p;
        uint32_t finals = 0, deeper = 0;
        for (uint32_t c = cands; c; c &= c - 1) {
            int i = __builtin_ctz(c);
            /* a key without escapes is its text: compare bytes */
            if (esc ? !jscan_str_eq(&key, step[i], slen[i])
                    : key.len - 2 != slen[i] || memcmp(key.p + 1, step[i], slen[i]) != 0)
                continue;
            if (last & (1u << i)) {
                finals |= 1u << i;
            } else {
                deeper |= 1u << i;
                /* the last of duplicate keys decides: forget what an earlier one gave */
                w[i].found = false;
                w[i].val = (struct jscan_val){JSCAN_NONE, "", 0};
                w[i].key = w[i].val;
            }
        }
        if (deeper && *p == '{')
            p = find_in(p, end, w, deeper, next);
        else
            p = scan_value(p, end);
        if (!p)
            return NULL;
        for (uint32_t c = finals; c; c &= c - 1) {
            int i = __builtin_ctz(c);
            w[i].key = key;
            w[i].val.type = type_of(*vs);
            w[i].val.p = vs;
            w[i].val.len = (size_t)(p - vs);
            w[i].found = true;
        }
        p = ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == '}')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = ws(p + 1, end);
        if (p >= end)
            return NULL;
    }
}

int jscan_find(const char *json, size_t len, struct jscan_val *root, struct jscan_want *w,
               size_t n)
{
    const char *end = json + len;
    const char *p = ws(json, end);
    const char *step[JSCAN_FIND_MAX];
    uint32_t cands = 0;
    if (n > JSCAN_FIND_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        w[i].found = false;
        w[i].val = (struct jscan_val){JSCAN_NONE, "", 0};
        w[i].key = w[i].val;
        step[i] = w[i].path;
        if (*w[i].path)
            cands |= 1u << i;
    }
    if (p >= end)
        return -EINVAL;
    const char *e = *p == '{' ? find_in(p, end, w, cands, step) : scan_value(p, end);
    if (!e || ws(e, end) != end)
        return -EINVAL;
    struct jscan_val r = {type_of(*p), p, (size_t)(e - p)};
    for (size_t i = 0; i < n; i++) {
        if (!*w[i].path) {
            w[i].val = r; /* "" is the document itself */
            w[i].found = true;
        }
    }
    if (root)
        *root = r;
    return 0;
}

void jscan_iter_init(struct jscan_iter *it, const struct jscan_val *v)
{
    it->object = v->type == JSCAN_OBJECT;
    it->first = true;
    if (v->type == JSCAN_OBJECT || v->type == JSCAN_ARRAY) {
        it->p = v->p + 1;
        it->end = v->p + v->len - 1; /* the closing bracket */
    } else {
        it->p = it->end = v->p;
    }
}

/* The next value of the walk (after its key for objects): 1, 0 at the end, -EINVAL when
 * the text is malformed (only possible inside a jscan_root value). */
static int next_value(struct jscan_iter *it, struct jscan_val *key, struct jscan_val *val)
{
    const char *p = ws(it->p, it->end);
    if (p >= it->end)
        return 0;
    if (!it->first) {
        if (*p != ',')
            return -EINVAL;
        p = ws(p + 1, it->end);
    }
    if (it->object) {
        const char *k = p;
        const char *ke = (p < it->end && *p == '"') ? scan_string(p, it->end) : NULL;
        if (!ke)
            return -EINVAL;
        key->type = JSCAN_STRING;
        key->p = k;
        key->len = (size_t)(ke - k);
        p = ws(ke, it->end);
        if (p >= it->end || *p != ':')
            return -EINVAL;
        p = ws(p + 1, it->end);
    }
    const char *e = scan_value(p, it->end);
    if (!e)
        return -EINVAL;
    val->type = type_of(*p);
    val->p = p;
    val->len = (size_t)(e - p);
    it->p = e;
    it->first = false;
    return 1;
}

int jscan_next_member(struct jscan_iter *it, struct jscan_val *key, struct jscan_val *val)
{
    if (!it->object)
        return 0;
    return next_value(it, key, val);
}

int jscan_next_elem(struct jscan_iter *it, struct jscan_val *val)
{
    if (it->object)
        return 0;
    return next_value(it, NULL, val);
}

size_t jscan_array_size(const struct jscan_val *v)
{
    if (v->type != JSCAN_ARRAY)
        return 0;
    struct jscan_iter it;
    struct jscan_val e;
    size_t n = 0;
    jscan_iter_init(&it, v);
    while (jscan_next_elem(&it, &e) == 1)
        n++;
    return n;
}

bool jscan_str_plain(const struct jscan_val *s)
{
    return s->type == JSCAN_STRING && !memchr(s->p + 1, '\\', s->len - 2);
}

/* Appends code point cp as UTF-8 at *o (room checked by the caller's bound). */
static size_t utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* One piece of a string's value: *src and *k = the next bytes (a plain run in the text, or an
 * escape decoded into tmp). p advances; the text was checked when scanned. */
static void str_piece(const char **pp, const char *end, char tmp[4], const char **src, size_t *k)
{
    const char *p = *pp;
    if (*p != '\\') {
        const char *q = memchr(p, '\\', (size_t)(end - p));
        if (!q)
            q = end;
        *src = p;
        *k = (size_t)(q - p);
        *pp = q;
        return;
    }
    char e = p[1];
    p += 2;
    *src = tmp;
    *k = 1;
    switch (e) {
    case 'b':
        tmp[0] = '\b';
        break;
    case 'f':
        tmp[0] = '\f';
        break;
    case 'n':
        tmp[0] = '\n';
        break;
    case 'r':
        tmp[0] = '\r';
        break;
    case 't':
        tmp[0] = '\t';
        break;
    case 'u': {
        long cp = hex4(p, end);
        p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            long lo = hex4(p + 2, end);
            p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        *k = utf8_put(tmp, cp < 0 ? 0xFFFD : (unsigned long)cp);
        break;
    }
    default: /* " \ / */
        tmp[0] = e;
        break;
    }
    *pp = p;
}

size_t jscan_str_decode(const struct jscan_val *s, char *buf, size_t cap)
{
    size_t n = 0;
    if (s->type == JSCAN_STRING && s->len >= 2) {
        const char *p = s->p + 1, *end = s->p + s->len - 1;
        char tmp[4];
        while (p < end) {
            const char *src;
            size_t k;
            str_piece(&p, end, tmp, &src, &k);
            if (n < cap)
                memcpy(buf + n, src, k < cap - n ? k : cap - n);
            n += k;
        }
    }
    if (n < cap)
        buf[n] = '\0';
    return n;
}

bool jscan_str_eq(const struct jscan_val *s, const char *name, size_t n)
{
    if (s->type != JSCAN_STRING || s->len < 2)
        return false;
    const char *p = s->p + 1, *end = s->p + s->len - 1;
    if (jscan_str_plain(s))
        return (size_t)(end - p) == n && memcmp(p, name, n) == 0;
    char tmp[4];
    size_t off = 0;
    while (p < end) {
        const char *src;
        size_t k;
        str_piece(&p, end, tmp, &src, &k);
        if (k > n - off || memcmp(name + off, src, k) != 0)
            return false;
        off += k;
    }
    return off == n;
}

static int get_n(const struct jscan_val *obj, const char *name, size_t n, struct jscan_val *out)
{
    struct jscan_iter it;
    struct jscan_val k, v;
    int found = 0;
    if (obj->type != JSCAN_OBJECT)
        return 0;
    jscan_iter_init(&it, obj);
    while (jscan_next_member(&it, &k, &v) == 1) {
        if (jscan_str_eq(&k, name, n)) {
            *out = v;
            found = 1;
        }
    }
    return found;
}

int jscan_get(const struct jscan_val *obj, const char *name, struct jscan_val *out)
{
    return get_n(obj, name, strlen(name), out);
}

int jscan_path(const struct jscan_val *obj, const char *dotted, struct jscan_val *out)
{
    struct jscan_val cur = *obj;
    const char *p = dotted;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        struct jscan_val next;
        if (!get_n(&cur, p, n, &next))
            return 0;
        cur = next;
        p += n;
        if (*p == '.')
            p++;
    }
    *out = cur;
    return 1;
}

int jscan_int(const struct jscan_val *v, long long *out)
{
    if (v->type != JSCAN_NUMBER)
        return 0;
    const char *p = v->p, *end = v->p + v->len;
    bool neg = *p == '-';
    if (neg)
        p++;
    unsigned long long acc = 0;
    const unsigned long long lim = neg ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
    for (; p < end; p++) {
        if (!is_digit(*p))
            return 0; /* a fraction or an exponent: a real */
        unsigned d = (unsigned)(*p - '0');
        if (acc > (lim - d) / 10)
            return 0;
        acc = acc * 10 + d;
    }
    *out = neg ? (acc == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)acc)
               : (long long)acc;
    return 1;
}
