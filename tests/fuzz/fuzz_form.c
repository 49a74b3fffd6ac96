/*
 * Fuzz target for fcgi/form.c: the same bytes as a form body, an Authorization header and a
 * Content-Type.  Beyond not crashing, what the parsers accept must be clean: NUL-terminated
 * UTF-8 text of the stated length, without repeated keys.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Abort unless s is a plain C string of length len. */
static void
fuzz_check_string(const char *s, size_t len)
{
	if (strlen(s) != len)
		abort();
}

/* Check what form_parse accepted. */
static void
fuzz_check_form(const struct form *f)
{
	size_t	i, j;

	if (f->n > FORM_MAX_PAIRS)
		abort();
	for (i = 0; i < f->n; i++) {
		fuzz_check_string(f->pairs[i].key, f->pairs[i].keylen);
		fuzz_check_string(f->pairs[i].value, f->pairs[i].valuelen);
		if (f->pairs[i].keylen == 0)
			abort();
		for (j = 0; j < i; j++) {
			if (strcmp(f->pairs[i].key, f->pairs[j].key) == 0)
				abort();
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form	 f;
	char		*buf, basic[FORM_BASIC_MAX];
	const char	*id, *secret;

	if (size > HTTP_BODY_MAX)
		return 0;
	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (form_parse(buf, size, &f) == FORM_OK)
		fuzz_check_form(&f);
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (form_basic(buf, basic, sizeof(basic), &id, &secret) == FORM_OK &&
	    (*id == '\0' || *secret == '\0'))
		abort();
	(void)form_content_type_ok(buf);
	free(buf);
	return 0;
}
