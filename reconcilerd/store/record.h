/* record — the on-disk framing shared by the write-ahead log and snapshots.
 *
 * Every file starts with a 24-byte header:
 *   magic[8] ("BOSUNWAL" or "BOSUNSNP") | u64 rev | u32 version | u32 crc32c(first 20)
 * For a log segment rev is the first revision the segment may hold; for a snapshot it is
 * the revision of the state it contains. Then records follow back to back:
 *   u32 body_len | u32 crc32c(body_len bytes ++ body) | body
 *   body = u8 op | u64 rev | u64 create_rev | u32 key_len | key | value (JSON, rest of body)
 * All integers little-endian. A snapshot ends with one STORE_REC_SNAP_END record whose rev
 * is the snapshot's revision and whose create_rev is the number of items before it: a
 * snapshot without it is incomplete.
 *
 * Format versions. In version 1 a value was stored without metadata.resourceVersion (the
 * record's rev is it) and had to be parsed to put it back. In version 2 (what this code
 * writes) the value is exactly the bytes readers get: metadata.resourceVersion is the
 * first member of the top-level "metadata" object and equals the record's rev, so loading
 * is a copy, never a parse. A DELETE record has no value in either version. Version 1
 * files are still read (the revision is spliced in on load); a version 1 segment is never
 * appended to. */
#ifndef BOSUN_STORE_RECORD_H
#define BOSUN_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define STORE_FILE_HDR_LEN 24
#define STORE_REC_HDR_LEN 8
#define STORE_REC_FIXED_LEN 21 /* op + rev + create_rev + key_len */
/* Larger lengths are treated as garbage, so a torn length field cannot make recovery
 * try to read gigabytes. Values are limited well below it (STORE_MAX_VALUE). */
#define STORE_REC_MAX_BODY (64u << 20)
#define STORE_MAX_KEY 4096
#define STORE_MAX_VALUE (16u << 20)

#define STORE_FORMAT_VERSION 2

#define STORE_WAL_MAGIC "BOSUNWAL"
#define STORE_SNAP_MAGIC "BOSUNSNP"

enum store_rec_op {
    STORE_REC_CREATE = 1,
    STORE_REC_UPDATE = 2,
    STORE_REC_DELETE = 3,
    STORE_REC_SNAP_ITEM = 4,
    STORE_REC_SNAP_END = 5,
};

struct store_rec {
    enum store_rec_op op;
    uint64_t rev;
    uint64_t create_rev;
    const char *key; /* not NUL-terminated; points into the file buffer */
    size_t key_len;
    const char *value; /* JSON bytes, not NUL-terminated */
    size_t value_len;
    size_t len; /* whole record on disk (header + body) */
};

/* CRC-32C (Castagnoli), continuing from crc (0 to start). Uses SSE4.2 when the CPU has
 * it. */
uint32_t store_crc32c(uint32_t crc, const void *buf, size_t len);

/* Bytes a record with these key/value sizes takes on disk. */
size_t store_rec_size(size_t key_len, size_t value_len);

/* Writes a complete record into buf (store_rec_size bytes). */
void store_rec_encode(char *buf, enum store_rec_op op, uint64_t rev, uint64_t create_rev,
                      const char *key, size_t key_len, const char *value, size_t value_len);

/* Rewrites rev/create_rev of an encoded record and recomputes its checksum; writers encode
 * before their revision is known and patch it in under the ordering lock. */
void store_rec_patch(char *buf, uint64_t rev, uint64_t create_rev);

enum store_rec_status {
    STORE_REC_OK = 0,
    STORE_REC_SHORT,    /* fewer bytes left than the record claims (or than a header) */
    STORE_REC_BAD_LEN,  /* length field zero, too small or absurd */
    STORE_REC_BAD_CRC,  /* checksum mismatch */
    STORE_REC_BAD_BODY, /* checksum fine but fields inconsistent (key_len, op) */
};

/* Decodes the record at buf (avail bytes left in the file). */
enum store_rec_status store_rec_decode(const char *buf, size_t avail, struct store_rec *out);

const char *store_rec_status_str(enum store_rec_status s);

/* Encodes (version STORE_FORMAT_VERSION) / checks a file header. check returns 0 or
 * -EINVAL; it accepts versions 1 and 2. */
void store_file_hdr_encode(char *buf, const char *magic, uint64_t rev);
int store_file_hdr_check(const char *buf, size_t avail, const char *magic, uint64_t *rev);
/* The version of a header store_file_hdr_check accepted. */
uint32_t store_file_hdr_version(const char *buf);

/* Finds the top-level "metadata" member of a JSON object without parsing it: *out = the
 * offset just past the '{' that opens its value. Returns 0, or -1 when js is not an
 * object with an object-valued "metadata" (or is malformed before reaching it). Stops at
 * metadata, so it costs only the bytes before it (usually apiVersion and kind). */
int store_json_meta_off(const char *js, size_t len, size_t *out);

/* Bytes `"resourceVersion":"<20 digits>",` can take: what splicing a revision adds at most. */
#define STORE_RV_SPLICE_MAX 40
/* Writes js with `"resourceVersion":"<rev>"` inserted as the first member of the metadata
 * object opening at meta_off (from store_json_meta_off) into out (js_len +
 * STORE_RV_SPLICE_MAX bytes). Returns the bytes written; *rv_off = offset of the first
 * digit, *rv_len = number of digits. */
size_t store_rv_splice(char *out, const char *js, size_t js_len, size_t meta_off, uint64_t rev,
                       uint32_t *rv_off, uint8_t *rv_len);
/* Checks that js (version 2) carries `"resourceVersion":"<rev>"` as the first member of
 * its metadata; sets *rv_off / *rv_len as store_rv_splice does. 0 or -1. */
int store_rv_locate(const char *js, size_t len, uint64_t rev, uint32_t *rv_off, uint8_t *rv_len);

#endif
