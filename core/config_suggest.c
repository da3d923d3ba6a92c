/* config_suggest.c — "did you mean" for config keys and names. */
#include "config_suggest.h"

#include <string.h>

/* Levenshtein distance (case-insensitive), capped: strings > 64 give 99. */
int sg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[65];
    if (la > 64 || lb > 64)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            char ca = a[i - 1], cb = b[j - 1];
            if (ca >= 'A' && ca <= 'Z')
                ca = (char)(ca - 'A' + 'a');
            if (cb >= 'A' && cb <= 'Z')
                cb = (char)(cb - 'A' + 'a');
            int best = diag + (ca != cb);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The closest candidate within edit distance 2 (and shorter than the word). */
const char *sg_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < n && cands[i]; i++) {
        int d = sg_edit_distance(word, cands[i]);
        if (d < best_d && (size_t)d < strlen(word)) {
            best_d = d;
            best = cands[i];
        }
    }
    return best;
}
