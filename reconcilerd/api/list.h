/* list — GET of a collection (not a watch): a List, or a Table for `kubectl get`.
 *
 * A list is one consistent view of the store (store_view_take: a reference per object,
 * taken under the store's lock, nothing copied), and its body is produced while the
 * client reads it (httpd_respond_producer): each object's stored JSON goes straight into
 * the server's send buffer, and a Table row is written from those bytes
 * (api_table_row_raw). Nothing is parsed for a plain list; selectors read only the fields
 * they test (lib/jscan). So a list of 100k pods neither builds a 100 MiB body nor parses
 * 100k objects, and its memory is a pointer per object plus one send buffer.
 *
 * A plain list has a Content-Length; one with selectors or as a Table is sent chunked
 * (its size is known only once produced). Paging: limit=N sends the first N objects
 * after the continue token (a key: keys sorting after it) and, when more remain,
 * metadata.continue = the last key sent; every page is read at its own revision. An
 * object whose stored text is not well-formed JSON (never the case for what the store
 * writes) is left out where it has to be read: with selectors or as a Table row. */
#ifndef BOSUN_API_LIST_H
#define BOSUN_API_LIST_H

#include <stdbool.h>

#include "lib/selector.h"
#include "reconcilerd/api/context.h"
#include "reconcilerd/api/table.h"

/* Answers r->req with the list of r's collection (r->prefix, r->kind), filtered by ls and
 * fs (may be NULL; stolen: freed when the reply is done with). table: a Table whose rows
 * carry inc; otherwise the kind's List. Reads limit and continue from r's query. */
void api_list_serve(struct api_req *r, struct label_selector *ls, struct field_selector *fs,
                    bool table, enum api_table_include inc);

#endif
