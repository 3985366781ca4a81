#include "reconcilerd/api/body.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/jsonx.h"
#include "reconcilerd/api/status.h"
#include "schema/yaml.h"

enum api_media api_media_of(const char *ct)
{
    if (!ct || !*ct)
        return API_MEDIA_NONE;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    static const struct {
        const char *name;
        enum api_media m;
    } types[] = {
        {"application/json", API_MEDIA_JSON},
        {"application/yaml", API_MEDIA_YAML},
        {"application/x-yaml", API_MEDIA_YAML},
        {"text/yaml", API_MEDIA_YAML},
        {"application/vnd.kubernetes.protobuf", API_MEDIA_PROTOBUF},
        {"application/merge-patch+json", API_MEDIA_MERGE_PATCH},
        {"application/strategic-merge-patch+json", API_MEDIA_SMP},
        {"application/json-patch+json", API_MEDIA_JSON_PATCH},
        {"application/apply-patch+yaml", API_MEDIA_APPLY},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i].name) == n && !strncasecmp(ct, types[i].name, n))
            return types[i].m;
    return API_MEDIA_OTHER;
}

/* ---- a minimal protobuf reader ---- */

struct pb {
    const unsigned char *p, *end;
};

static int pb_varint(struct pb *b, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return -1;
        unsigned char c = *b->p++;
        r |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* Next field: its number, wire type, and for length-delimited fields the bytes. */
static int pb_next(struct pb *b, uint32_t *field, int *wt, struct pb *sub, uint64_t *ival)
{
    uint64_t key;
    if (pb_varint(b, &key))
        return -1;
    *field = (uint32_t)(key >> 3);
    *wt = (int)(key & 7);
    switch (*wt) {
    case 0:
        return pb_varint(b, ival);
    case 1:
        if (b->end - b->p < 8)
            return -1;
        b->p += 8;
        return 0;
    case 5:
        if (b->end - b->p < 4)
            return -1;
        b->p += 4;
        return 0;
    case 2: {
        uint64_t len;
        if (pb_varint(b, &len) || len > (uint64_t)(b->end - b->p))
            return -1;
        sub->p = b->p;
        sub->end = b->p + len;
        b->p += len;
        return 0;
    }
    default:
        return -1;
    }
}

static json_t *pb_string(const struct pb *s)
{
    return json_stringn((const char *)s->p, (size_t)(s->end - s->p));
}

static char *b64(const unsigned char *d, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((n + 2) / 3 * 4 + 1), *w = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n)
            v |= d[i + 2];
        *w++ = tbl[(v >> 18) & 63];
        *w++ = tbl[(v >> 12) & 63];
        *w++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        *w++ = i + 2 < n ? tbl[v & 63] : '=';
    }
    *w = '\0';
    return out;
}

/* A map<string,string|bytes> entry {1: key, 2: value} into obj. */
static int pb_map_entry(struct pb *e, json_t *obj, int bytes)
{
    json_t *k = NULL, *v = NULL;
    uint32_t f;
    int wt;
    struct pb s;
    uint64_t iv;
    while (e->p < e->end) {
        if (pb_next(e, &f, &wt, &s, &iv))
            goto fail;
        if (wt != 2)
            continue;
        if (f == 1) {
            json_decref(k);
            k = pb_string(&s);
        } else if (f == 2) {
            json_decref(v);
            if (bytes) {
                char *enc = b64(s.p, (size_t)(s.end - s.p));
                v = enc ? json_string(enc) : NULL;
                free(enc);
            } else {
                v = pb_string(&s);
            }
        }
    }
    if (!k || !json_string_value(k))
        goto fail;
    json_object_set_new(obj, json_string_value(k), v ? v : json_string(""));
    json_decref(k);
    return 0;
fail:
    json_decref(k);
    json_decref(v);
    return -1;
}

static json_t *pb_object_meta(struct pb *m)
{
    json_t *md = json_object();
    uint32_t f;
    int wt;
    struct pb s;
    uint64_t iv;
    static const char *strs[] = {NULL, "name", "generateName", "namespace"};
    while (m->p < m->end) {
        if (pb_next(m, &f, &wt, &s, &iv))
            goto fail;
        if (wt != 2)
            continue;
        if (f >= 1 && f <= 3) {
            if (s.end > s.p)
                json_object_set_new(md, strs[f], pb_string(&s));
        } else if (f == 11 || f == 12) {
            const char *name = f == 11 ? "labels" : "annotations";
            json_t *map = json_object_get(md, name);
            if (!map) {
                map = json_object();
                json_object_set_new(md, name, map);
            }
            if (pb_map_entry(&s, map, 0))
                goto fail;
        }
    }
    return md;
fail:
    json_decref(md);
    return NULL;
}

/* The string fields (number → JSON name, index = field number) of message m. */
static json_t *pb_strings(struct pb *m, const char *const *names, size_t n)
{
    json_t *o = json_object();
    uint32_t f;
    int wt;
    struct pb s;
    uint64_t iv;
    while (m->p < m->end) {
        if (pb_next(m, &f, &wt, &s, &iv)) {
            json_decref(o);
            return NULL;
        }
        if (wt == 2 && f < n && names[f] && s.end > s.p)
            json_object_set_new(o, names[f], pb_string(&s));
    }
    return o;
}

/* authorization.k8s.io/v1 SelfSubjectAccessReview (what `kubectl auth can-i` sends):
 * field 1 ObjectMeta, field 2 spec {1: ResourceAttributes {1 namespace, 2 verb, 3 group,
 * 4 version, 5 resource, 6 subresource, 7 name}, 2: NonResourceAttributes {1 path,
 * 2 verb}}. */
static json_t *pb_access_review(struct pb *raw)
{
    static const char *const ra[] = {NULL,      "namespace",   "verb", "group",
                                     "version", "resource", "subresource", "name"};
    static const char *const nra[] = {NULL, "path", "verb"};
    json_t *obj = json_pack("{s:s,s:s,s:{},s:{}}", "apiVersion", "authorization.k8s.io/v1",
                            "kind", "SelfSubjectAccessReview", "metadata", "spec");
    json_t *spec = json_object_get(obj, "spec");
    uint32_t f;
    int wt;
    struct pb s, t;
    uint64_t iv;
    while (raw->p < raw->end) {
        if (pb_next(raw, &f, &wt, &s, &iv))
            goto fail;
        if (f != 2 || wt != 2)
            continue;
        while (s.p < s.end) {
            if (pb_next(&s, &f, &wt, &t, &iv))
                goto fail;
            if (wt != 2 || (f != 1 && f != 2))
                continue;
            json_t *a = f == 1 ? pb_strings(&t, ra, 8) : pb_strings(&t, nra, 3);
            if (!a)
                goto fail;
            json_object_set_new(spec, f == 1 ? "resourceAttributes" : "nonResourceAttributes",
                                a);
        }
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

/* authorization.k8s.io/v1 SelfSubjectRulesReview (what `kubectl auth can-i --list`
 * sends): field 1 ObjectMeta, field 2 spec {1: namespace}, field 3 status (ignored). */
static json_t *pb_rules_review(struct pb *raw)
{
    static const char *const spec_fields[] = {NULL, "namespace"};
    json_t *obj = json_pack("{s:s,s:s,s:{},s:{}}", "apiVersion", "authorization.k8s.io/v1",
                            "kind", "SelfSubjectRulesReview", "metadata", "spec");
    uint32_t f;
    int wt;
    struct pb s;
    uint64_t iv;
    while (raw->p < raw->end) {
        if (pb_next(raw, &f, &wt, &s, &iv))
            goto fail;
        if (f != 2 || wt != 2)
            continue;
        json_t *spec = pb_strings(&s, spec_fields, 2);
        if (!spec)
            goto fail;
        json_object_set_new(obj, "spec", spec);
    }
    return obj;
fail:
    json_decref(obj);
    return NULL;
}

json_t *api_protobuf_decode(const unsigned char *buf, size_t len, char *msg, size_t msglen)
{
    json_t *obj = NULL;
    char api_version[64] = "", kind[64] = "";
    struct pb raw = {0};
    int have_raw = 0;
    if (len < 4 || memcmp(buf, "k8s\0", 4)) {
        snprintf(msg, msglen, "protobuf body without the k8s envelope");
        return NULL;
    }
    struct pb b = {buf + 4, buf + len}, s;
    uint32_t f;
    int wt;
    uint64_t iv;
    while (b.p < b.end) {
        if (pb_next(&b, &f, &wt, &s, &iv))
            goto malformed;
        if (f == 1 && wt == 2) {
            struct pb tm = s, t;
            while (tm.p < tm.end) {
                if (pb_next(&tm, &f, &wt, &t, &iv))
                    goto malformed;
                if (wt == 2 && (f == 1 || f == 2)) {
                    size_t n = (size_t)(t.end - t.p);
                    char *dst = f == 1 ? api_version : kind;
                    if (n >= 64)
                        goto malformed;
                    memcpy(dst, t.p, n);
                    dst[n] = '\0';
                }
            }
        } else if (f == 2 && wt == 2) {
            raw = s;
            have_raw = 1;
        }
    }
    if (have_raw && !strcmp(api_version, "authorization.k8s.io/v1") &&
        (!strcmp(kind, "SelfSubjectAccessReview") || !strcmp(kind, "SelfSubjectRulesReview"))) {
        obj = !strcmp(kind, "SelfSubjectAccessReview") ? pb_access_review(&raw)
                                                       : pb_rules_review(&raw);
        if (!obj)
            goto malformed;
        return obj;
    }
    if (!have_raw || strcmp(api_version, "v1") ||
        (strcmp(kind, "Namespace") && strcmp(kind, "ConfigMap") && strcmp(kind, "Secret"))) {
        snprintf(msg, msglen,
                 "protobuf bodies are decoded only for v1 Namespace, ConfigMap and Secret "
                 "(got %s %s); send JSON or YAML",
                 *api_version ? api_version : "?", *kind ? kind : "?");
        return NULL;
    }
    obj = json_pack("{s:s,s:s}", "apiVersion", "v1", "kind", kind);
    int is_secret = !strcmp(kind, "Secret");
    while (raw.p < raw.end) {
        if (pb_next(&raw, &f, &wt, &s, &iv))
            goto malformed;
        if (f == 1 && wt == 2) {
            json_t *md = pb_object_meta(&s);
            if (!md)
                goto malformed;
            json_object_set_new(obj, "metadata", md);
            continue;
        }
        if (!strcmp(kind, "Namespace"))
            continue; /* spec/status are empty for `create namespace` */
        if (f == 2 && wt == 2) { /* data */
            json_t *data = json_object_get(obj, "data");
            if (!data) {
                data = json_object();
                json_object_set_new(obj, "data", data);
            }
            if (pb_map_entry(&s, data, is_secret))
                goto malformed;
        } else if (!is_secret && f == 3 && wt == 2) { /* ConfigMap binaryData */
            json_t *data = json_object_get(obj, "binaryData");
            if (!data) {
                data = json_object();
                json_object_set_new(obj, "binaryData", data);
            }
            if (pb_map_entry(&s, data, 1))
                goto malformed;
        } else if (is_secret && f == 3 && wt == 2) { /* type */
            if (s.end > s.p)
                json_object_set_new(obj, "type", pb_string(&s));
        } else if (is_secret && f == 4 && wt == 2) { /* stringData */
            json_t *data = json_object_get(obj, "stringData");
            if (!data) {
                data = json_object();
                json_object_set_new(obj, "stringData", data);
            }
            if (pb_map_entry(&s, data, 0))
                goto malformed;
        } else if (f == (is_secret ? 5u : 4u) && wt == 0) {
            json_object_set_new(obj, "immutable", json_boolean(iv != 0));
        }
    }
    if (!json_object_get(obj, "metadata"))
        json_object_set_new(obj, "metadata", json_object());
    return obj;
malformed:
    json_decref(obj);
    snprintf(msg, msglen, "malformed protobuf body");
    return NULL;
}

json_t *api_body_decode(const char *body, size_t len, enum api_media media, json_t **status)
{
    char msg[1200];
    struct bosun_err err = {0};
    *status = NULL;
    if (len == 0) {
        *status = api_status_new(400, "BadRequest", "the request body is empty");
        return NULL;
    }
    switch (media) {
    case API_MEDIA_NONE:
    case API_MEDIA_JSON:
    case API_MEDIA_MERGE_PATCH:
    case API_MEDIA_SMP:
    case API_MEDIA_JSON_PATCH: {
        json_t *v = jsonx_loadb(body, len, &err);
        if (!v) {
            snprintf(msg, sizeof(msg), "the request body is not valid JSON: %s", err.msg);
            *status = api_status_new(400, "BadRequest", msg);
        }
        return v;
    }
    case API_MEDIA_YAML:
    case API_MEDIA_APPLY: {
        struct schema_docs docs = {0};
        if (schema_yaml_parse(body, len, "body", &docs, &err)) {
            snprintf(msg, sizeof(msg), "the request body is not valid YAML: %s", err.msg);
            *status = api_status_new(400, "BadRequest", msg);
            return NULL;
        }
        if (docs.n != 1) {
            schema_docs_free(&docs);
            *status = api_status_new(400, "BadRequest",
                                     "the request body must hold exactly one YAML document");
            return NULL;
        }
        json_t *v = json_incref(docs.v[0].obj);
        schema_docs_free(&docs);
        return v;
    }
    case API_MEDIA_PROTOBUF: {
        json_t *v = api_protobuf_decode((const unsigned char *)body, len, msg, sizeof(msg));
        if (!v)
            *status = api_status_new(415, "UnsupportedMediaType", msg);
        return v;
    }
    default:
        *status = api_status_new(415, "UnsupportedMediaType", "the body of the request was in an "
                                 "unknown format - accepted media types include: "
                                 "application/json, application/yaml, "
                                 "application/vnd.kubernetes.protobuf");
        return NULL;
    }
}

bool api_body_dry_run_all(const json_t *opts)
{
    const json_t *dr = json_object_get(opts, "dryRun");
    size_t i;
    const json_t *v;
    json_array_foreach(dr, i, v) {
        if (json_is_string(v) && !strcmp(json_string_value(v), "All"))
            return true;
    }
    return false;
}
