/* shell_words.h — split an exec command into words and expand an argv
 * template with them. No shell ever sees the result.
 *
 * Word splitting (a small, POSIX-like subset; nothing is expanded):
 *   - words are separated by unquoted space, tab or newline;
 *   - 'single quotes' keep everything up to the next ' literally;
 *   - "double quotes" keep everything literally except \" \\ \$ \` and
 *     backslash-newline (removed), like sh;
 *   - outside quotes a backslash keeps the next character literally
 *     (backslash-newline is removed);
 *   - every other character ($ ; | & < > ( ) * ? ` ~ # ...) is an ordinary
 *     character of the word: it is passed on literally, never interpreted.
 *   - '' and "" make an empty word.
 * Refused: a NUL byte, a command longer than max_len bytes, an unterminated
 * quote, a trailing backslash.
 *
 * Templates: every element of the template argv is copied; in it
 *   {N}   (N = 0..999) is replaced by word N (word 0 = the command name);
 *   {*}   as a whole element expands to words 1..end, one element each;
 *   {{ and }} stand for literal { and }.
 * A template that names a word the command does not have is refused.
 * `nargs` >= 0 requires exactly that many words after the command name;
 * with nargs < 0 (any count) a command with words that no placeholder
 * consumes is refused (unless {*} is used): arguments are never dropped
 * silently.
 */
#ifndef SG_SHELL_WORDS_H
#define SG_SHELL_WORDS_H

#include <stdbool.h>
#include <stddef.h>

enum sw_error {
    SW_OK = 0,
    SW_E_NUL = -1,     /* NUL byte in the command */
    SW_E_TOOLONG = -2, /* longer than max_len */
    SW_E_QUOTE = -3,   /* unterminated quote */
    SW_E_ESCAPE = -4,  /* trailing backslash */
    SW_E_NOMEM = -5,
    SW_E_ARGS = -6,     /* word count does not fit the template */
    SW_E_TEMPLATE = -7, /* malformed template */
    SW_E_EMPTY = -8,    /* no words at all */
};

/* A NULL-terminated vector of owned strings. */
struct sw_words {
    char **v; /* v[n] == NULL */
    size_t n;
    size_t cap;
};

/* Split cmd[0..len) into words. On success *out owns the words (free with
 * sw_words_free); on error *out is empty. */
int sw_split(const char *cmd, size_t len, size_t max_len, struct sw_words *out);

/* Check a template (at config load): SW_OK or SW_E_TEMPLATE. */
int sw_template_check(const char *const *tmpl, size_t n);

/* Expand template tmpl[0..n) with words into *out (see above). */
int sw_expand(const char *const *tmpl, size_t n, const struct sw_words *words, long nargs,
              struct sw_words *out);

/* Append a copy of s (len bytes) to w. */
int sw_push(struct sw_words *w, const char *s, size_t len);
void sw_words_free(struct sw_words *w);

/* A short English text for an SW_E_* value. */
const char *sw_strerror(int err);

#endif
