#include "lib/strbuf.h"

#include <stdlib.h>
#include <string.h>

char *strbuf_room(struct strbuf *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return NULL;
        }
        b->p = np;
        b->cap = cap;
    }
    return b->p + b->len;
}

void strbuf_add(struct strbuf *b, const char *data, size_t n)
{
    char *d = strbuf_room(b, n);
    if (!d)
        return;
    memcpy(d, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

size_t strbuf_copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (size == 0)
        return n;
    size_t k = n < size ? n : size - 1;
    memcpy(dst, src, k);
    dst[k] = '\0';
    return n;
}

void strbuf_str(struct strbuf *b, const char *s)
{
    strbuf_add(b, s, strlen(s));
}
