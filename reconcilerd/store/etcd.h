/* etcd — the store's etcd v3 backend, spoken through etcd's JSON gateway with libcurl.
 *
 * store.c forwards every public call here when store_opts.etcd_endpoints is set; the
 * semantics (documented in store.h, "The etcd backend") are the file store's, with etcd's
 * revisions as resourceVersions. Values live in etcd as the JSON the file store's log
 * held in format version 1: without metadata.resourceVersion, which is spliced in from
 * the key's mod_revision when read. Every function is thread-safe: each call takes a curl
 * handle from a small pool, and each watch has its own thread and streaming request. */
#ifndef BOSUN_STORE_ETCD_H
#define BOSUN_STORE_ETCD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "reconcilerd/store/store.h"

struct store_etcd;
struct store_etcd_watch;

enum store_etcd_op { STORE_ETCD_CREATE, STORE_ETCD_UPDATE, STORE_ETCD_DELETE };

/* Connects (checks that an endpoint answers /v3/maintenance/status). */
int store_etcd_open(const struct store_opts *opts, struct store_etcd **out, struct bosun_err *err);
/* Cancels every watch still running and frees e. NULL allowed. */
void store_etcd_close(struct store_etcd *e);

/* The cluster revision (one range request; the last one seen if etcd does not answer). */
uint64_t store_etcd_revision(struct store_etcd *e);

/* One key: *out a parsed tree (may be NULL), *out_json and *out_len the bytes (may be NULL;
 * *out_json is the caller's to free). */
int store_etcd_get(struct store_etcd *e, const char *key, json_t **out, char **out_json,
                   size_t *out_len, uint64_t *out_rev, struct bosun_err *err);
/* Every key under prefix at one revision, in key order; exactly one of fn / rfn is set. */
int store_etcd_list(struct store_etcd *e, const char *prefix, store_list_fn fn,
                    store_list_raw_fn rfn, void *userdata, uint64_t *out_rev,
                    struct bosun_err *err);
/* create / update / delete, with store_create's, store_update's and store_delete's
 * contracts (value NULL for a delete). */
int store_etcd_write(struct store_etcd *e, enum store_etcd_op op, const char *key,
                     const json_t *value, uint64_t expected_rev, json_t **out,
                     struct bosun_err *err);

/* store_watch: events after from_rev (0: from now) under prefix on the watch's own
 * thread. raw as in store_watch_raw. */
int store_etcd_watch(struct store_etcd *e, const char *prefix, uint64_t from_rev, bool raw,
                     store_watch_fn fn, void *userdata, struct store_etcd_watch **out,
                     struct bosun_err *err);
/* Stops w. Synchronous: returns once fn is not running and will not run again (from
 * inside fn it behaves like async). async: may be called from inside fn; w is freed by
 * its own thread. */
void store_etcd_watch_cancel(struct store_etcd_watch *w, bool async);

#endif
