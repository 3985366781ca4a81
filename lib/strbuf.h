/* strbuf — a growable byte buffer for building bodies and documents.
 *
 * Zero-initialise one (`struct strbuf b = {0};`), append, then take b.p (NUL-terminated,
 * b.len bytes, owned by the caller: free it). An allocation failure sets b.oom and turns
 * later appends into no-ops, so builders check once at the end instead of after every
 * append. */
#ifndef BOSUN_STRBUF_H
#define BOSUN_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct strbuf {
    char *p;     /* NUL-terminated once anything was appended; NULL before */
    size_t len;  /* bytes, without the NUL */
    size_t cap;
    bool oom;    /* an append failed: the content is incomplete */
};

void strbuf_add(struct strbuf *b, const char *data, size_t n);
void strbuf_str(struct strbuf *b, const char *s);

#endif
