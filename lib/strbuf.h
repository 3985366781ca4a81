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
/* Room for n more bytes (and a NUL after them) at b->p + b->len, for a writer that fills
 * in place: it writes up to n bytes there, adds what it wrote to b->len and writes the
 * NUL. NULL once an allocation failed. */
char *strbuf_room(struct strbuf *b, size_t n);
void strbuf_str(struct strbuf *b, const char *s);

/* Copies src into dst (size bytes), cut to fit and always NUL-terminated when size > 0,
 * as snprintf(dst, size, "%s", src) does without parsing a format. Returns strlen(src):
 * the copy was cut when that is >= size. */
size_t strbuf_copy(char *dst, size_t size, const char *src);

#endif
