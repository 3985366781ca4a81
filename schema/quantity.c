/* quantity — exact parsing in 128-bit integers: a quantity is N / 10^frac times a
 * power of 10 or of 1024, and both outputs are ceil(N * scale / 10^frac). */
#include "schema/quantity.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef __int128 i128;

/* Longer numbers are refused (-ERANGE): no real quantity has them, and they would
 * overflow the 128-bit arithmetic. */
#define QTY_DIGITS_MAX 30
#define QTY_EXP_MAX 40

static bool pow10_i128(int e, i128 *out)
{
    i128 v = 1;
    for (int i = 0; i < e; i++)
        if (__builtin_mul_overflow(v, (i128)10, &v))
            return false;
    *out = v;
    return true;
}

/* ceil(n * num / den) for n >= 0; false on overflow. */
static bool scale_ceil(i128 n, i128 num, i128 den, int64_t *out)
{
    i128 t;
    if (__builtin_mul_overflow(n, num, &t))
        return false;
    i128 q = t / den + (t % den != 0);
    if (q > INT64_MAX)
        return false;
    *out = (int64_t)q;
    return true;
}

int schema_quantity_parse(const char *s, int64_t *milli, int64_t *value)
{
    if (!s)
        return -EINVAL;
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    i128 n = 0;
    int digits = 0, frac = 0;
    bool any = false, dot = false;
    for (;; p++) {
        if (*p >= '0' && *p <= '9') {
            any = true;
            if (n == 0 && *p == '0' && !dot)
                continue; /* leading zeros are not significant */
            if (digits >= QTY_DIGITS_MAX)
                return -ERANGE;
            n = n * 10 + (*p - '0');
            digits++;
            if (dot)
                frac++;
        } else if (*p == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!any)
        return -EINVAL;
    /* suffix */
    int dexp = 0, bexp = 0; /* x10^dexp, x1024^bexp */
    static const struct {
        const char *sfx;
        int dexp, bexp;
    } sfx[] = {{"Ki", 0, 1}, {"Mi", 0, 2}, {"Gi", 0, 3}, {"Ti", 0, 4}, {"Pi", 0, 5},
               {"Ei", 0, 6}, {"n", -9, 0}, {"u", -6, 0}, {"m", -3, 0}, {"", 0, 0},
               {"k", 3, 0},  {"M", 6, 0},  {"G", 9, 0},  {"T", 12, 0}, {"P", 15, 0},
               {"E", 18, 0}};
    bool found = false;
    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        if (strcmp(p, sfx[i].sfx) == 0) {
            dexp = sfx[i].dexp;
            bexp = sfx[i].bexp;
            found = true;
            break;
        }
    }
    if (!found && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        bool eneg = false;
        if (*q == '+' || *q == '-')
            eneg = *q++ == '-';
        if (!(*q >= '0' && *q <= '9'))
            return -EINVAL;
        int e = 0;
        for (; *q >= '0' && *q <= '9'; q++) {
            e = e * 10 + (*q - '0');
            if (e > QTY_EXP_MAX)
                return -ERANGE;
        }
        if (*q)
            return -EINVAL;
        dexp = eneg ? -e : e;
        found = true;
    }
    if (!found)
        return -EINVAL;
    if (neg)
        n = -n;

    int64_t outs[2];
    int64_t *want[2] = {milli, value};
    for (int i = 0; i < 2; i++) {
        if (!want[i])
            continue;
        int e = dexp - frac + (i == 0 ? 3 : 0);
        i128 num = 1, den = 1;
        if (!pow10_i128(e > 0 ? e : -e, e > 0 ? &num : &den))
            return -ERANGE;
        for (int b = 0; b < bexp; b++)
            num *= 1024;
        /* round toward +infinity for negatives too, as Kubernetes does */
        if (n >= 0) {
            if (!scale_ceil(n, num, den, &outs[i]))
                return -ERANGE;
        } else {
            int64_t pos;
            i128 t;
            if (__builtin_mul_overflow(-n, num, &t) || t / den > INT64_MAX)
                return -ERANGE;
            pos = (int64_t)(t / den);
            outs[i] = -pos;
        }
    }
    if (milli)
        *milli = outs[0];
    if (value)
        *value = outs[1];
    return 0;
}

int schema_quantity_parse_json(const json_t *v, int64_t *milli, int64_t *value)
{
    char buf[64];
    if (json_is_string(v))
        return schema_quantity_parse(json_string_value(v), milli, value);
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return schema_quantity_parse(buf, milli, value);
    }
    if (json_is_real(v)) {
        /* 15 significant digits print 0.1 as "0.1", not 0.10000000000000001 */
        snprintf(buf, sizeof(buf), "%.15g", json_real_value(v));
        return schema_quantity_parse(buf, milli, value);
    }
    return -EINVAL;
}
