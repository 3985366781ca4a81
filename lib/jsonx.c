#include "lib/jsonx.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/strbuf.h"

json_t *jsonx_get(const json_t *root, const char *dotted_path)
{
    const json_t *cur = root;
    const char *p = dotted_path;
    while (cur && *p) {
        if (!json_is_object(cur))
            return NULL;
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        cur = json_object_getn(cur, p, n);
        p += n;
        if (*p == '.')
            p++;
    }
    return (json_t *)cur;
}

const char *jsonx_get_str(const json_t *root, const char *dotted_path)
{
    return json_string_value(jsonx_get(root, dotted_path));
}

long long jsonx_get_int(const json_t *root, const char *dotted_path, long long def)
{
    json_t *v = jsonx_get(root, dotted_path);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

json_t *jsonx_ensure_obj(json_t *root, const char *dotted_path)
{
    json_t *cur = root;
    const char *p = dotted_path;
    while (cur && *p) {
        if (!json_is_object(cur))
            return NULL;
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        json_t *next = json_object_getn(cur, p, n);
        if (!next) {
            next = json_object();
            if (!next || json_object_setn_new(cur, p, n, next) != 0)
                return NULL;
        }
        cur = next;
        p += n;
        if (*p == '.')
            p++;
    }
    return json_is_object(cur) ? cur : NULL;
}

int jsonx_set_new(json_t *root, const char *dotted_path, json_t *value)
{
    const char *last = strrchr(dotted_path, '.');
    json_t *parent = root;
    if (last) {
        char *head = strndup(dotted_path, (size_t)(last - dotted_path));
        parent = head ? jsonx_ensure_obj(root, head) : NULL;
        free(head);
        last++;
    } else {
        last = dotted_path;
    }
    if (!parent || json_object_set_new(parent, last, value) != 0) {
        if (!parent)
            json_decref(value);
        return -EINVAL;
    }
    return 0;
}

json_t *jsonx_loadb(const char *buf, size_t len, struct bosun_err *err)
{
    json_t *v = jsonx_loadb_fast(buf, len);
    if (v)
        return v;
    /* Not parsed fast (an error, or something the fast parser leaves to jansson): jansson
     * decides, and words the error. */
    json_error_t je;
    v = json_loadb(buf, len, 0, &je);
    if (!v)
        err_set(err, -EINVAL, "json: line %d col %d: %s", je.line, je.column, je.text);
    return v;
}

json_t *jsonx_load_file(const char *path, struct bosun_err *err)
{
    json_error_t je;
    json_t *v = json_load_file(path, 0, &je);
    if (!v)
        err_set(err, -EINVAL, "%s: line %d col %d: %s", path, je.line, je.column, je.text);
    return v;
}

/* Length of the valid UTF-8 sequence at p (1-4) within avail bytes, or 0 when the bytes
 * there are not one (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if ((p[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = p[0] & 0x1F;
    } else if ((p[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = p[0] & 0x0F;
    } else if ((p[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

json_t *jsonx_string_lossy(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len * 3 + 1); /* each bad byte becomes 3 bytes of U+FFFD */
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq_len(p, len - (size_t)((const char *)p - s));
        if (n) {
            memcpy(out + o, p, n);
            o += n;
            p += n;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
        }
    }
    json_t *v = json_stringn_nocheck(out, o);
    free(out);
    return v;
}

/* ---- serialising ----
 * jansson's json_dumps hands every fragment to a callback and decodes each string's
 * UTF-8 code point by code point; a store write serialises every object it keeps, and
 * that showed as a tenth of a create's CPU time. This writer makes the same bytes
 * (compact, keys in insertion order, \uXXXX in upper case for control characters, reals
 * as "%.17g" with ".0" or an exponent kept, invalid UTF-8 refused) into one strbuf. */

/* Appends n bytes, not NUL-terminated: jsonx_dumps terminates once at the end. */
static void dump_bytes(struct strbuf *b, const char *s, size_t n)
{
    char *d = strbuf_room(b, n);
    if (d) {
        memcpy(d, s, n);
        b->len += n;
    }
}

static void dump_string(struct strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* worst case: every byte a 6-byte escape, plus the quotes */
    char *d = strbuf_room(b, n * 6 + 2);
    if (!d)
        return;
    char *start = d;
    *d++ = '"';
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            *d++ = (char)c;
            p++;
        } else if (c >= 0x80) {
            size_t k = utf8_seq_len(p, (size_t)(end - p));
            if (!k) {
                b->oom = true; /* not UTF-8: nothing to write (jansson refuses it too) */
                return;
            }
            memcpy(d, p, k);
            d += k;
            p += k;
        } else {
            *d++ = '\\';
            switch (c) {
            case '"': *d++ = '"'; break;
            case '\\': *d++ = '\\'; break;
            case '\b': *d++ = 'b'; break;
            case '\f': *d++ = 'f'; break;
            case '\n': *d++ = 'n'; break;
            case '\r': *d++ = 'r'; break;
            case '\t': *d++ = 't'; break;
            default:
                memcpy(d, "u00", 3);
                d[3] = hex[c >> 4];
                d[4] = hex[c & 15];
                d += 5;
            }
            p++;
        }
    }
    *d++ = '"';
    b->len += (size_t)(d - start);
}

static void dump_integer(struct strbuf *b, json_int_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    dump_bytes(b, tmp + i, sizeof(tmp) - i);
}

/* As jansson writes a real: 17 significant digits, a ".0" when it would read back as an
 * integer, no "+" and no leading zeros in the exponent. */
static void dump_real(struct strbuf *b, double v)
{
    char tmp[40];
    int n = snprintf(tmp, sizeof(tmp), "%.17g", v);
    if (n < 0 || (size_t)n >= sizeof(tmp) - 3) {
        b->oom = true;
        return;
    }
    if (!strchr(tmp, '.') && !strchr(tmp, 'e')) {
        memcpy(tmp + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(tmp, 'e');
    if (e) {
        char *from = e + 1, *to = e + 1;
        if (*from == '+')
            from++;
        else if (*from == '-')
            from = to = e + 2;
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, strlen(from) + 1);
        n = (int)strlen(tmp);
    }
    dump_bytes(b, tmp, (size_t)n);
}

/* Deeper than any object we keep; also what stops a (never expected) cycle. */
#define DUMP_MAX_DEPTH 2048

static void dump_value(struct strbuf *b, const json_t *v, int depth)
{
    if (depth > DUMP_MAX_DEPTH) {
        b->oom = true;
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        dump_bytes(b, "{", 1);
        bool first = true;
        for (void *it = json_object_iter((json_t *)v); it && !b->oom;
             it = json_object_iter_next((json_t *)v, it)) {
            if (!first)
                dump_bytes(b, ",", 1);
            first = false;
            dump_string(b, json_object_iter_key(it), json_object_iter_key_len(it));
            dump_bytes(b, ":", 1);
            dump_value(b, json_object_iter_value(it), depth + 1);
        }
        dump_bytes(b, "}", 1);
        break;
    }
    case JSON_ARRAY: {
        dump_bytes(b, "[", 1);
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n && !b->oom; i++) {
            if (i)
                dump_bytes(b, ",", 1);
            dump_value(b, json_array_get(v, i), depth + 1);
        }
        dump_bytes(b, "]", 1);
        break;
    }
    case JSON_STRING:
        dump_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        dump_integer(b, json_integer_value(v));
        break;
    case JSON_REAL:
        dump_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        dump_bytes(b, "true", 4);
        break;
    case JSON_FALSE:
        dump_bytes(b, "false", 5);
        break;
    case JSON_NULL:
        dump_bytes(b, "null", 4);
        break;
    }
}

char *jsonx_dumps(const json_t *value)
{
    struct strbuf b = {0};
    if (!value)
        return NULL;
    dump_value(&b, value, 0);
    if (!strbuf_room(&b, 0)) {
        free(b.p);
        return NULL;
    }
    b.p[b.len] = '\0';
    return b.p;
}

/* ---- parsing ----
 * jansson's parser reads through a stream abstraction a byte at a time and copies every
 * string twice; request bodies and stored objects are parsed on every write. This parser
 * takes the common case (an object or array of valid JSON) in one pass and builds the same
 * jansson values in the same key order. Anything it does not take (any error, integers
 * past 64 bits, reals that overflow, nesting past jansson's 2048 levels, \u0000) it leaves
 * to jansson, which then decides: so it never accepts what jansson refuses, and every
 * error message is jansson's. */

#define PARSE_MAX_DEPTH 2048

struct jparse {
    const unsigned char *p, *end;
    struct strbuf tmp; /* unescaped string bytes */
};

static void skip_ws(struct jparse *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | cp >> 6);
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | cp >> 12);
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | cp >> 18);
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The escape at ps->p (just past the backslash) onto ps->tmp; -1 when invalid or \u0000. */
static int parse_escape(struct jparse *ps)
{
    if (ps->p >= ps->end)
        return -1;
    unsigned char c = *ps->p++;
    char one;
    switch (c) {
    case '"': one = '"'; break;
    case '\\': one = '\\'; break;
    case '/': one = '/'; break;
    case 'b': one = '\b'; break;
    case 'f': one = '\f'; break;
    case 'n': one = '\n'; break;
    case 'r': one = '\r'; break;
    case 't': one = '\t'; break;
    case 'u': {
        unsigned cp, lo;
        if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0)
            return -1;
        ps->p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF)
            return -1;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
                hex4(ps->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            ps->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp == 0)
            return -1;
        char *d = strbuf_room(&ps->tmp, 4);
        if (!d)
            return -1;
        ps->tmp.len += utf8_put(d, cp);
        return 0;
    }
    default:
        return -1;
    }
    strbuf_add(&ps->tmp, &one, 1);
    return ps->tmp.oom ? -1 : 0;
}

/* The string at ps->p (just past its opening quote): *out and *out_len point into the input
 * when it has no escapes, else into ps->tmp. -1 when invalid. */
static int parse_string(struct jparse *ps, const char **out, size_t *out_len)
{
    const unsigned char *start = ps->p;
    bool escaped = false;
    ps->tmp.len = 0;
    while (ps->p < ps->end) {
        unsigned char c = *ps->p;
        if (c == '"') {
            if (escaped) {
                strbuf_add(&ps->tmp, (const char *)start, (size_t)(ps->p - start));
                if (ps->tmp.oom)
                    return -1;
                *out = ps->tmp.p;
                *out_len = ps->tmp.len;
            } else {
                *out = (const char *)start;
                *out_len = (size_t)(ps->p - start);
            }
            ps->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            strbuf_add(&ps->tmp, (const char *)start, (size_t)(ps->p - start));
            ps->p++;
            if (parse_escape(ps) < 0)
                return -1;
            start = ps->p;
            escaped = true;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq_len(ps->p, (size_t)(ps->end - ps->p));
            if (!k)
                return -1;
            ps->p += k;
            continue;
        }
        ps->p++;
    }
    return -1;
}

static json_t *parse_number(struct jparse *ps)
{
    const unsigned char *start = ps->p;
    bool neg = false, real = false;
    if (ps->p < ps->end && *ps->p == '-') {
        neg = true;
        ps->p++;
    }
    if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
        return NULL;
    if (*ps->p == '0') {
        ps->p++;
        if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            return NULL; /* a leading zero */
    } else {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        real = true;
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return NULL;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        real = true;
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
            ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return NULL;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
            ps->p++;
    }
    size_t n = (size_t)(ps->p - start);
    if (!real) {
        /* up to 18 digits cannot overflow; longer ones are left to jansson */
        if (n - neg > 18)
            return NULL;
        long long v = 0;
        for (const unsigned char *q = start + neg; q < ps->p; q++)
            v = v * 10 + (*q - '0');
        return json_integer(neg ? -v : v);
    }
    char tmp[64];
    if (n >= sizeof(tmp))
        return NULL;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    double d = strtod(tmp, NULL);
    if (d == HUGE_VAL || d == -HUGE_VAL || d != d)
        return NULL; /* overflow: jansson reports it */
    return json_real(d);
}

static json_t *parse_value(struct jparse *ps, int depth);

/* Steps over c when it is next. */
static bool take(struct jparse *ps, char c)
{
    if (ps->p < ps->end && *ps->p == (unsigned char)c) {
        ps->p++;
        return true;
    }
    return false;
}

/* The member "key": value at ps->p into obj; -1 when there is none or it is invalid. */
static int parse_member(struct jparse *ps, json_t *obj, int depth)
{
    const char *key;
    size_t key_len;
    if (!take(ps, '"') || parse_string(ps, &key, &key_len) < 0)
        return -1;
    /* A key with escapes was unescaped into ps->tmp, which the value's strings reuse: only
     * then is it copied first. Other keys point into the input and stay put. */
    char kbuf[128], *k = NULL;
    if (key == ps->tmp.p) {
        k = key_len < sizeof(kbuf) ? kbuf : malloc(key_len + 1);
        if (!k)
            return -1;
        memcpy(k, key, key_len);
        k[key_len] = '\0';
        key = k;
    }
    skip_ws(ps);
    json_t *v = take(ps, ':') ? parse_value(ps, depth + 1) : NULL;
    int r = v ? json_object_setn_new_nocheck(obj, key, key_len, v) : -1;
    if (k && k != kbuf)
        free(k);
    return r ? -1 : 0;
}

/* The object or array after its opening bracket: members or values up to `close`. */
static json_t *parse_container(struct jparse *ps, int depth, char close)
{
    json_t *c = close == '}' ? json_object() : json_array();
    if (!c)
        return NULL;
    skip_ws(ps);
    if (take(ps, close))
        return c;
    for (;;) {
        if (close == '}') {
            if (parse_member(ps, c, depth) < 0)
                break;
        } else {
            json_t *v = parse_value(ps, depth + 1);
            if (!v || json_array_append_new(c, v))
                break;
        }
        skip_ws(ps);
        if (take(ps, close))
            return c;
        if (!take(ps, ','))
            break;
        skip_ws(ps);
    }
    json_decref(c);
    return NULL;
}

static bool take_word(struct jparse *ps, const char *w, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, w, n) != 0)
        return false;
    ps->p += n;
    return true;
}

static json_t *parse_value(struct jparse *ps, int depth)
{
    if (depth > PARSE_MAX_DEPTH)
        return NULL;
    skip_ws(ps);
    if (ps->p >= ps->end)
        return NULL;
    switch (*ps->p) {
    case '{':
        ps->p++;
        return parse_container(ps, depth, '}');
    case '[':
        ps->p++;
        return parse_container(ps, depth, ']');
    case '"': {
        const char *str;
        size_t n;
        ps->p++;
        if (parse_string(ps, &str, &n) < 0)
            return NULL;
        return json_stringn_nocheck(str, n);
    }
    case 't':
        return take_word(ps, "true", 4) ? json_true() : NULL;
    case 'f':
        return take_word(ps, "false", 5) ? json_false() : NULL;
    case 'n':
        return take_word(ps, "null", 4) ? json_null() : NULL;
    default:
        return parse_number(ps);
    }
}

json_t *jsonx_loadb_fast(const char *buf, size_t len)
{
    struct jparse ps = {.p = (const unsigned char *)buf, .end = (const unsigned char *)buf + len};
    skip_ws(&ps);
    if (ps.p >= ps.end || (*ps.p != '{' && *ps.p != '['))
        return NULL;
    json_t *v = parse_value(&ps, 1);
    skip_ws(&ps);
    if (v && ps.p != ps.end) {
        json_decref(v);
        v = NULL;
    }
    free(ps.tmp.p);
    return v;
}
