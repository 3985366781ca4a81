#include "cli/yamlout.h"

#include "lib/strbuf.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void sb_indent(struct strbuf *b, int n)
{
    for (int i = 0; i < n; i++)
        strbuf_add(b, " ", 1);
}

int cli_yaml_needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    /* indicators that start something else, and surrounding blanks that would be lost */
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) || s[strlen(s) - 1] == ' ' ||
        s[strlen(s) - 1] == ':')
        return 1;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            return 1;
        if ((c == ':' && (p[1] == ' ' || p[1] == '\t')) || (c == '#' && p > s && p[-1] == ' '))
            return 1;
    }
    /* words YAML 1.1 or 1.2 readers resolve to booleans or null */
    static const char *const words[] = {"true", "false", "null", "~", "yes", "no", "on", "off",
                                        "y", "n", NULL};
    for (int i = 0; words[i]; i++) {
        if (strcasecmp(s, words[i]) == 0)
            return 1;
    }
    /* timestamps (YAML 1.1 readers would turn them into dates) */
    if (strlen(s) >= 10 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
        isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-')
        return 1;
    /* anything number-like (ints, floats, hex/octal, sexagesimal, dates, .inf/.nan) */
    if (isdigit((unsigned char)s[0]) || ((s[0] == '+' || s[0] == '.') && s[1])) {
        bool only_numberish = true;
        for (const char *p = s; *p; p++) {
            if (!strchr("0123456789.:-+_eExXoObBaAcCdDfF", *p)) {
                only_numberish = false;
                break;
            }
        }
        if (only_numberish)
            return 1;
        if (strcasecmp(s, ".inf") == 0 || strcasecmp(s, "+.inf") == 0 ||
            strcasecmp(s, ".nan") == 0)
            return 1;
    }
    return 0;
}

static void emit_quoted(struct strbuf *b, const char *s)
{
    json_t *j = json_string(s);
    char *q = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    if (q)
        strbuf_str(b, q);
    else
        b->oom = true;
    free(q);
    json_decref(j);
}

/* A literal block reproduces s exactly when: it has a newline, no CR/tabs/controls,
 * the first line does not start with a space, and it ends with at most one newline. */
static bool block_ok(const char *s)
{
    size_t n = strlen(s);
    if (!strchr(s, '\n') || s[0] == ' ' || s[0] == '\n')
        return false;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return false;
    }
    if (n >= 2 && s[n - 1] == '\n' && s[n - 2] == '\n')
        return false;
    /* trailing spaces on a line are kept by YAML, but a line of only spaces before the
     * end can confuse indentation detection: refuse it */
    for (const char *p = s; *p; p++) {
        if (*p == '\n' && p[1] == ' ')
            return false;
    }
    return true;
}

static void emit_block(struct strbuf *b, const char *s, int indent)
{
    size_t n = strlen(s);
    strbuf_str(b, s[n - 1] == '\n' ? "|" : "|-");
    const char *p = s;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        strbuf_add(b, "\n", 1);
        if (len)
            sb_indent(b, indent);
        strbuf_add(b, p, len);
        p += len;
        if (*p == '\n')
            p++;
    }
}

static void emit_scalar(struct strbuf *b, const json_t *v, int indent)
{
    char num[64];
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        if (block_ok(s))
            emit_block(b, s, indent);
        else if (cli_yaml_needs_quotes(s))
            emit_quoted(b, s);
        else
            strbuf_str(b, s);
        break;
    }
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        strbuf_str(b, num);
        break;
    case JSON_REAL: {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        /* keep it a float when read back */
        if (!strpbrk(num, ".eEn"))
            strcat(num, ".0");
        strbuf_str(b, num);
        break;
    }
    case JSON_TRUE:
        strbuf_str(b, "true");
        break;
    case JSON_FALSE:
        strbuf_str(b, "false");
        break;
    case JSON_NULL:
        strbuf_str(b, "null");
        break;
    default:
        break;
    }
}

static bool is_empty_container(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0);
}

static void emit_key(struct strbuf *b, const char *k)
{
    if (cli_yaml_needs_quotes(k))
        emit_quoted(b, k);
    else
        strbuf_str(b, k);
}

static void emit_node(struct strbuf *b, const json_t *v, int indent);

/* Writes the mapping's entries, the first one without indentation (the caller placed
 * the cursor), the others at indent. */
static void emit_object(struct strbuf *b, const json_t *v, int indent, bool first_inline)
{
    const char *k;
    const json_t *x;
    bool first = true;
    json_object_foreach((json_t *)v, k, x)
    {
        if (!(first && first_inline))
            sb_indent(b, indent);
        first = false;
        emit_key(b, k);
        strbuf_add(b, ":", 1);
        if (json_is_object(x) && !is_empty_container(x)) {
            strbuf_add(b, "\n", 1);
            emit_object(b, x, indent + 2, false);
        } else if (json_is_array(x) && !is_empty_container(x)) {
            strbuf_add(b, "\n", 1);
            emit_node(b, x, indent); /* kubectl style: "- " at the key's column */
        } else {
            strbuf_add(b, " ", 1);
            emit_node(b, x, indent + 2);
            strbuf_add(b, "\n", 1);
        }
    }
}

static void emit_array(struct strbuf *b, const json_t *v, int indent)
{
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x)
    {
        sb_indent(b, indent);
        strbuf_add(b, "- ", 2);
        if (json_is_object(x) && !is_empty_container(x)) {
            emit_object(b, x, indent + 2, true);
        } else if (json_is_array(x) && !is_empty_container(x)) {
            /* a nested sequence starts on its own line */
            strbuf_add(b, "\n", 1);
            emit_array(b, x, indent + 2);
        } else {
            emit_node(b, x, indent + 2);
            strbuf_add(b, "\n", 1);
        }
    }
}

static void emit_node(struct strbuf *b, const json_t *v, int indent)
{
    if (json_is_object(v)) {
        if (json_object_size(v) == 0)
            strbuf_str(b, "{}");
        else
            emit_object(b, v, indent, false);
    } else if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            strbuf_str(b, "[]");
        else
            emit_array(b, v, indent);
    } else {
        emit_scalar(b, v, indent);
    }
}

char *cli_yaml_dumps(const json_t *v)
{
    struct strbuf b = {0};
    if (is_empty_container(v) || !(json_is_object(v) || json_is_array(v))) {
        emit_node(&b, v, 2);
        strbuf_add(&b, "\n", 1);
    } else {
        emit_node(&b, v, 0);
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
