/* jscan — a zero-allocation reader of JSON text: finds values in a document by key,
 * without building a tree.
 *
 * For hot paths that need a few fields of many stored objects (the rows of a Table of
 * 100k pods, a selector's labels): a value is a span of the text (struct jscan_val), and
 * walking an object or array visits its members in order. Nothing is allocated and
 * nothing is copied; every span points into the caller's buffer, which must outlive it.
 *
 * Syntax is checked as values are passed over, to RFC 8259's grammar (strings without raw
 * control characters, valid escapes with paired surrogates, number syntax, nesting up to
 * JSCAN_MAX_DEPTH), and \u0000 is refused as jansson's parser refuses it by default (so a
 * decoded string never holds a NUL) — but UTF-8, number ranges and duplicate keys are not
 * checked: text that jansson accepts (flags 0), jscan accepts, not the other way round. It is meant for text a JSON library
 * wrote (the store's objects are jansson's compact output), where the two agree.
 *
 * Duplicate keys: jscan_get returns the last, as jansson's parser keeps the last. */
#ifndef BOSUN_JSCAN_H
#define BOSUN_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSCAN_MAX_DEPTH 2048

enum jscan_type {
    JSCAN_NONE,
    JSCAN_OBJECT,
    JSCAN_ARRAY,
    JSCAN_STRING,
    JSCAN_NUMBER,
    JSCAN_TRUE,
    JSCAN_FALSE,
    JSCAN_NULL,
};

/* A value's text: p[0 .. len) is the whole value, quotes and brackets included. */
struct jscan_val {
    enum jscan_type type;
    const char *p;
    size_t len;
};

/* Reads the one value that makes up json (whitespace around it allowed) into *out.
 * 0, or -EINVAL when the text is not one well-formed JSON value (*out untouched). The
 * whole text is checked. */
int jscan_doc(const char *json, size_t len, struct jscan_val *out);

/* Several lookups at once, in one pass over the text (what reading a pod's Table row or
 * a selector's fields needs): the whole text is checked as by jscan_doc (-EINVAL), and
 * each want gets the value at its dotted path with jsonx_get's semantics (every step a
 * member of an object; the last of duplicate keys decides), found or not. Members on the
 * way to a wanted path are walked into rather than passed over, so no byte is scanned
 * twice. At most JSCAN_FIND_MAX wants; *root (may be NULL) = the whole value. */
#define JSCAN_FIND_MAX 32
struct jscan_want {
    const char *path;     /* in: "metadata.name"; "" = the document */
    bool found;           /* out: */
    struct jscan_val key; /* the member's key (a JSCAN_STRING; JSCAN_NONE for "") */
    struct jscan_val val; /* its value (JSCAN_NONE when not found) */
};
int jscan_find(const char *json, size_t len, struct jscan_val *root, struct jscan_want *w,
               size_t n);

/* Walks the members of an object or the elements of an array of checked text (a value
 * from jscan_doc or jscan_find, or from a walk of one). */
struct jscan_iter {
    const char *p, *end;
    bool object, first;
};
void jscan_iter_init(struct jscan_iter *it, const struct jscan_val *v);
/* The next member: *key is the key (a JSCAN_STRING) and *val its value. 1 = got one,
 * 0 = no more (also when the container is not an object); -EINVAL only for unchecked,
 * malformed text. */
int jscan_next_member(struct jscan_iter *it, struct jscan_val *key, struct jscan_val *val);
/* The next element of an array: 1, 0 (no more, or not an array) or -EINVAL as above. */
int jscan_next_elem(struct jscan_iter *it, struct jscan_val *val);
/* The number of elements of an array (0 for anything else). */
size_t jscan_array_size(const struct jscan_val *v);

/* 1 when the JSCAN_STRING s decodes to exactly the n bytes of name. */
bool jscan_str_eq(const struct jscan_val *s, const char *name, size_t n);
/* The member named name (a C string) of object obj, the last one when repeated: 1 and
 * *out, or 0 when absent or obj is not an object. */
int jscan_get(const struct jscan_val *obj, const char *name, struct jscan_val *out);
/* Follows a dotted path ("status.podIP"), every step a member of an object, as jsonx_get
 * does: 1 and *out, or 0 when a step is missing or not an object. "" is obj itself. */
int jscan_path(const struct jscan_val *obj, const char *dotted, struct jscan_val *out);

/* Decodes the JSCAN_STRING s: writes at most cap bytes of its value into buf (plus a NUL
 * when there is room) and returns the value's full length in bytes, never more than
 * s->len - 2. A buffer of s->len bytes always holds the value and its NUL. */
size_t jscan_str_decode(const struct jscan_val *s, char *buf, size_t cap);
/* 1 when the string's text holds no escape: its bytes between the quotes are its value. */
bool jscan_str_plain(const struct jscan_val *s);

/* The JSCAN_NUMBER v as an integer when it is written as one (no fraction or exponent)
 * and fits in long long: 1 and *out; else 0. */
int jscan_int(const struct jscan_val *v, long long *out);

#endif
