#include "reconcilerd/store/etcd.h"
#include <errno.h>
int store_etcd_open(const struct store_opts *opts, struct store_etcd **out, struct bosun_err *err)
{ (void)opts; (void)out; return err_set(err, -ENOTSUP, "no etcd"); }
void store_etcd_close(struct store_etcd *e) { (void)e; }
uint64_t store_etcd_revision(struct store_etcd *e) { (void)e; return 0; }
int store_etcd_get(struct store_etcd *e, const char *key, json_t **out, char **out_json,
                   size_t *out_len, uint64_t *out_rev, struct bosun_err *err)
{ (void)e;(void)key;(void)out;(void)out_json;(void)out_len;(void)out_rev; return err_set(err,-ENOTSUP,"x"); }
int store_etcd_list(struct store_etcd *e, const char *prefix, store_list_fn fn,
                    store_list_raw_fn rfn, void *userdata, uint64_t *out_rev,
                    struct bosun_err *err)
{ (void)e;(void)prefix;(void)fn;(void)rfn;(void)userdata;(void)out_rev; return err_set(err,-ENOTSUP,"x"); }
int store_etcd_write(struct store_etcd *e, enum store_etcd_op op, const char *key,
                     const json_t *value, uint64_t expected_rev, json_t **out,
                     struct bosun_err *err)
{ (void)e;(void)op;(void)key;(void)value;(void)expected_rev;(void)out; return err_set(err,-ENOTSUP,"x"); }
int store_etcd_watch(struct store_etcd *e, const char *prefix, uint64_t from_rev, bool raw,
                     store_watch_fn fn, void *userdata, struct store_etcd_watch **out,
                     struct bosun_err *err)
{ (void)e;(void)prefix;(void)from_rev;(void)raw;(void)fn;(void)userdata;(void)out; return err_set(err,-ENOTSUP,"x"); }
void store_etcd_watch_cancel(struct store_etcd_watch *w, bool async) { (void)w; (void)async; }
