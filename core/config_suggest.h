/* config_suggest.h — edit distance and "did you mean" suggestions for
 * config error messages. */
#ifndef SSHGATE_CONFIG_SUGGEST_H
#define SSHGATE_CONFIG_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance, ASCII case-insensitive; 99 for strings over 64 bytes. */
int sg_edit_distance(const char *a, const char *b);
/* The candidate closest to `word` within distance 2 (and shorter than the
 * word itself), or NULL. cands has n entries (a NULL entry ends it early). */
const char *sg_suggest(const char *word, const char *const *cands, size_t n);

#endif
