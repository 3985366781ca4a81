/* list — see list.h. */
#include "reconcilerd/api/list.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/jscan.h"
#include "lib/jsonx.h"
#include "lib/strbuf.h"
#include "reconcilerd/api/status.h"

/* ---- an object's fields for selectors, read from its stored text -------------------- */

/* The paths a list's selectors test (metadata.labels first when there is a label
 * selector), and each object's values for them, found in one pass (jscan_find). */
struct raw_obj {
    struct jscan_want want[JSCAN_FIND_MAX];
    size_t n;
    bool labels;           /* want[0] is metadata.labels */
    char *scratch;         /* the last decoded string handed to a selector */
    size_t scratch_cap;
    char num[64];
};

/* Sets up the paths; -E2BIG when the field selector has too many terms for one pass
 * (such a list parses its objects instead). */
static int raw_obj_init(struct raw_obj *o, const struct label_selector *ls,
                        const struct field_selector *fs)
{
    o->n = 0;
    o->labels = ls != NULL;
    if (ls)
        o->want[o->n++].path = "metadata.labels";
    for (size_t i = 0; i < field_selector_count(fs); i++) {
        if (o->n == JSCAN_FIND_MAX)
            return -E2BIG;
        o->want[o->n++].path = field_selector_field(fs, i);
    }
    return 0;
}

/* The selectors on the parsed object: for field selectors too long for one jscan_find. */
static int selected_parsed(const struct label_selector *ls, const struct field_selector *fs,
                           const char *json, size_t len)
{
    json_t *v = json_loadb(json, len, 0, NULL);
    if (!v)
        return -EINVAL;
    bool ok = (!ls || label_selector_matches(ls, jsonx_get(v, "metadata.labels"))) &&
              (!fs || field_selector_matches(fs, v));
    json_decref(v);
    return ok;
}

/* The value of string v, decoded into o->scratch; NULL on ENOMEM. */
static const char *raw_obj_str(struct raw_obj *o, const struct jscan_val *v)
{
    if (v->len > o->scratch_cap) {
        char *p = realloc(o->scratch, v->len);
        if (!p)
            return NULL;
        o->scratch = p;
        o->scratch_cap = v->len;
    }
    jscan_str_decode(v, o->scratch, o->scratch_cap);
    return o->scratch;
}

static int raw_label(const char *key, const char **value, void *userdata)
{
    struct raw_obj *o = userdata;
    struct jscan_val v;
    *value = NULL;
    if (o->want[0].val.type != JSCAN_OBJECT || jscan_get(&o->want[0].val, key, &v) != 1)
        return 0;
    if (v.type == JSCAN_STRING)
        *value = raw_obj_str(o, &v); /* NULL on ENOMEM: matches as a non-string value */
    return 1;
}

/* The string form field selectors compare (see field_selector_matches_get). */
static const char *raw_field(const char *path, void *userdata)
{
    struct raw_obj *o = userdata;
    const struct jscan_val *v = NULL;
    for (size_t i = o->labels; i < o->n && !v; i++)
        if (o->want[i].found && !strcmp(o->want[i].path, path))
            v = &o->want[i].val;
    if (!v)
        return "";
    long long n;
    switch (v->type) {
    case JSCAN_STRING: {
        const char *s = raw_obj_str(o, v);
        return s ? s : "";
    }
    case JSCAN_NUMBER:
        if (jscan_int(v, &n)) {
            snprintf(o->num, sizeof(o->num), "%lld", n);
        } else {
            /* a real: the double a parser makes of the same text, printed alike */
            if (v->len + 1 > o->scratch_cap) {
                char *p = realloc(o->scratch, v->len + 1);
                if (!p)
                    return "";
                o->scratch = p;
                o->scratch_cap = v->len + 1;
            }
            memcpy(o->scratch, v->p, v->len);
            o->scratch[v->len] = '\0';
            snprintf(o->num, sizeof(o->num), "%g", strtod(o->scratch, NULL));
        }
        return o->num;
    case JSCAN_TRUE:
        return "true";
    case JSCAN_FALSE:
        return "false";
    default:
        return "";
    }
}

/* ---- the stream -------------------------------------------------------------------- */

struct list_stream {
    struct store_view *view;
    size_t next, end; /* the next object of the view to look at; where to stop */
    struct label_selector *ls;
    struct field_selector *fs;
    const struct schema_kind *kind;
    bool table;
    enum api_table_include inc;
    time_t now;
    long long limit, count;
    bool more;
    uint64_t rev;
    char last_key[API_KEY_MAX];
    bool head_sent, tail_sent;
    struct strbuf head; /* everything before the first object */
    struct strbuf buf;  /* the current Table row, then the tail */
    struct seg {
        const char *p;
        size_t len;
    } seg[2]; /* what waits to be copied out, in order */
    size_t nseg, segi;
    struct raw_obj obj;
    bool parse;     /* selectors need a parse (see raw_obj_init) */
    bool truncated; /* the view stopped at limit + 1 objects: more may follow it */
};

static void list_stream_free(void *userdata)
{
    struct list_stream *s = userdata;
    if (!s)
        return;
    store_view_free(s->view);
    label_selector_free(s->ls);
    field_selector_free(s->fs);
    free(s->head.p);
    free(s->buf.p);
    free(s->obj.scratch);
    free(s);
}

/* `],"metadata":{...}}` into s->buf: the revision and, when more remain, the continue
 * token. -ENOMEM. */
static int build_tail(struct list_stream *s)
{
    char rvs[32];
    snprintf(rvs, sizeof(rvs), "%" PRIu64, s->rev);
    json_t *md = json_pack("{s:s}", "resourceVersion", rvs);
    if (md && s->more)
        json_object_set_new(md, "continue", json_string(s->last_key));
    char *ms = md ? json_dumps(md, JSON_COMPACT) : NULL;
    json_decref(md);
    s->buf.len = 0;
    strbuf_str(&s->buf, "],\"metadata\":");
    if (ms)
        strbuf_str(&s->buf, ms);
    strbuf_str(&s->buf, "}");
    free(ms);
    return !ms || s->buf.oom ? -ENOMEM : 0;
}

/* 1 when the object passes the selectors, 0 when not, -EINVAL when its text is
 * malformed. */
static int selected(struct list_stream *s, const char *json, size_t len)
{
    struct jscan_val root;
    if (!s->ls && !s->fs)
        return 1;
    if (s->parse)
        return selected_parsed(s->ls, s->fs, json, len);
    if (jscan_find(json, len, &root, s->obj.want, s->obj.n) < 0 ||
        (root.type != JSCAN_OBJECT && root.type != JSCAN_ARRAY))
        return -EINVAL; /* what json_loadb refuses */
    if (s->ls && !label_selector_matches_get(s->ls, raw_label, &s->obj))
        return 0;
    return !s->fs || field_selector_matches_get(s->fs, raw_field, &s->obj);
}

/* Queues the next piece of the body in s->seg: the head, an object (or row), or the tail.
 * 0, or -ENOMEM. */
static int list_next(struct list_stream *s)
{
    s->nseg = s->segi = 0;
    if (!s->head_sent) {
        s->head_sent = true;
        s->seg[s->nseg].p = s->head.p;
        s->seg[s->nseg++].len = s->head.len;
        return 0;
    }
    while (s->next < s->end) {
        const char *key, *json;
        size_t len;
        store_view_get(s->view, s->next, &key, &json, &len);
        int sel = selected(s, json, len);
        if (sel <= 0) {
            s->next++;
            continue; /* filtered out, or not readable: left out */
        }
        if (s->table) {
            s->buf.len = 0;
            int r = api_table_row_raw(&s->buf, s->kind, json, len, s->inc, s->now);
            if (r == -EINVAL) {
                s->next++;
                continue;
            }
            if (r < 0 || s->buf.oom)
                return -ENOMEM;
            json = s->buf.p;
            len = s->buf.len;
        }
        if (s->limit > 0 && s->count == s->limit) {
            s->more = true;
            break;
        }
        s->next++;
        if (s->count++)
            s->seg[s->nseg++] = (struct seg){",", 1};
        s->seg[s->nseg].p = json;
        s->seg[s->nseg++].len = len;
        snprintf(s->last_key, sizeof(s->last_key), "%s", key);
        return 0;
    }
    if (s->truncated && !s->more && s->end) {
        /* The page's view ended with objects left out (unreadable) before the limit was
         * reached: the rest of the list is still there, after the last one looked at. */
        const char *key, *json;
        size_t len;
        store_view_get(s->view, s->end - 1, &key, &json, &len);
        s->more = true;
        snprintf(s->last_key, sizeof(s->last_key), "%s", key);
    }
    s->next = s->end;
    if (build_tail(s) < 0)
        return -ENOMEM;
    s->tail_sent = true;
    s->seg[s->nseg].p = s->buf.p;
    s->seg[s->nseg++].len = s->buf.len;
    return 0;
}

static ssize_t list_produce(void *userdata, char *buf, size_t max)
{
    struct list_stream *s = userdata;
    size_t n = 0;
    while (n < max) {
        if (s->segi < s->nseg) {
            size_t k = s->seg[s->segi].len;
            if (k > max - n)
                k = max - n;
            memcpy(buf + n, s->seg[s->segi].p, k);
            s->seg[s->segi].p += k;
            s->seg[s->segi].len -= k;
            n += k;
            if (!s->seg[s->segi].len)
                s->segi++;
            continue;
        }
        if (s->tail_sent)
            break;
        if (list_next(s) < 0)
            return HTTPD_BODY_ERROR;
    }
    return n ? (ssize_t)n : HTTPD_BODY_END;
}

/* The head: everything but items/rows and metadata (which go last, once the revision and
 * the continue token are known; JSON does not order keys). */
static int build_head(struct api_req *r, struct list_stream *s)
{
    char av[128];
    json_t *head;
    if (s->table) {
        head = api_table_new(r->kind, NULL, true);
        json_object_del(head, "rows");
        json_object_del(head, "metadata");
    } else {
        head = json_pack("{s:s,s:s}", "kind", r->kind->list_kind, "apiVersion",
                         schema_kind_api_version(r->kind, av, sizeof(av)));
    }
    char *hs = head ? json_dumps(head, JSON_COMPACT) : NULL;
    json_decref(head);
    if (!hs)
        return -ENOMEM;
    strbuf_add(&s->head, hs, strlen(hs) - 1); /* without the closing brace */
    free(hs);
    strbuf_str(&s->head, s->table ? ",\"rows\":[" : ",\"items\":[");
    return s->head.oom ? -ENOMEM : 0;
}

void api_list_serve(struct api_req *r, struct label_selector *ls, struct field_selector *fs,
                    bool table, enum api_table_include inc)
{
    struct list_stream *s = calloc(1, sizeof(*s));
    if (!s) {
        label_selector_free(ls);
        field_selector_free(fs);
        api_respond_status(r->req, 500, "InternalError", "out of memory");
        return;
    }
    s->ls = ls;
    s->fs = fs;
    s->parse = raw_obj_init(&s->obj, ls, fs) < 0;
    s->kind = r->kind;
    s->table = table;
    s->inc = inc;
    s->now = time(NULL);
    const char *lim = httpd_query(r->req, "limit");
    if (lim && *lim)
        s->limit = strtoll(lim, NULL, 10);
    const char *cont = httpd_query(r->req, "continue");
    if (cont && *cont && strncmp(cont, r->prefix, strlen(r->prefix))) {
        api_respond_status(r->req, 400, "BadRequest", "invalid continue token");
        goto fail;
    }
    if (build_head(r, s) < 0) {
        api_respond_status(r->req, 500, "InternalError", "out of memory");
        goto fail;
    }
    /* A page without selectors needs its own objects only, and one more to know whether
     * more remain: kubectl pages 500 at a time through 100k pods. */
    size_t max = s->limit > 0 && !ls && !fs ? (size_t)s->limit + 1 : 0;
    struct bosun_err err = {0};
    int rc = store_view_take(r->api->store, r->prefix, cont && *cont ? cont : NULL, max, &s->view,
                             &s->rev, &err);
    if (rc) {
        api_respond_status(r->req, rc == -ENOSPC ? 507 : 500, "InternalError", "%s",
                           *err.msg ? err.msg : strerror(-rc));
        goto fail;
    }
    s->next = 0;
    s->end = store_view_count(s->view);
    s->truncated = max && s->end == max;
    uint64_t size = HTTPD_SIZE_UNKNOWN;
    if (!table && !ls && !fs) {
        /* Nothing is left out of a plain list: its length is known before it is sent. */
        size_t n = s->end - s->next;
        if (s->limit > 0 && (unsigned long long)s->limit < n) {
            n = (size_t)s->limit;
            s->more = true;
        }
        /* the view's byte count, less the objects past the page (one: the view is at
         * most limit + 1 long) */
        size = s->head.len + (n ? n - 1 : 0) + store_view_bytes(s->view);
        for (size_t i = s->next + n; i < s->end; i++) {
            const char *key, *json;
            size_t len;
            store_view_get(s->view, i, &key, &json, &len);
            size -= len;
        }
        s->end = s->next + n;
        if (n) {
            const char *key, *json;
            size_t len;
            store_view_get(s->view, s->end - 1, &key, &json, &len);
            snprintf(s->last_key, sizeof(s->last_key), "%s", key);
        }
        if (build_tail(s) < 0) {
            api_respond_status(r->req, 500, "InternalError", "out of memory");
            goto fail;
        }
        size += s->buf.len;
    }
    if (httpd_respond_producer(r->req, 200, "application/json", size, list_produce,
                               list_stream_free, s) < 0)
        api_respond_status(r->req, 500, "InternalError", "cannot send the list");
    return;
fail:
    list_stream_free(s);
}
