/*
 * TAP producer for the unit tests, with assertions that say what failed (after OpenSSH's
 * regress/unittests/test_helper). tap_ok() checks a condition; inside a named case
 * (TEST_START/TEST_DONE) the ASSERT_* macros compare two values (ASSERT_TRUE checks one
 * condition), print one TAP line named "case: expression", and on failure the file, the line
 * and both sides as "# " comments; the rest of a failed case is skipped.
 * tap_done() prints the plan.
 */
#ifndef FG_TAP_H
#define FG_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum tap_pred {
	TAP_EQ, TAP_NE, TAP_LT, TAP_LE, TAP_GT, TAP_GE
};

static int		 tap_n, tap_failed, tap_case_failed;
static const char	*tap_case;

#define TEST_START(n)		tap_case_start(n)
#define TEST_DONE()		tap_case_done()

/* Statements; each assertion of a case after one that failed is skipped, its arguments not
 * evaluated. */
#define TAP_CMP(f, a, b, sa, sb, p) do { \
		if (!tap_skip(sa, sb, p)) \
			f(__FILE__, __LINE__, sa, sb, (a), (b), p); \
	} while (0)
#define ASSERT_TRUE(c)		do { \
		if (!tap_skip(#c, NULL, TAP_NE)) \
			tap_true(__FILE__, __LINE__, #c, (c) ? 1 : 0); \
	} while (0)
#define ASSERT_MEM(a, b, l, sa, sb, p) do { \
		if (!tap_skip(sa, sb, p)) \
			tap_mem(__FILE__, __LINE__, sa, sb, (a), (b), (l), p); \
	} while (0)
#define ASSERT_INT_EQ(a, b)	TAP_CMP(tap_int, a, b, #a, #b, TAP_EQ)
#define ASSERT_INT_NE(a, b)	TAP_CMP(tap_int, a, b, #a, #b, TAP_NE)
#define ASSERT_INT_LT(a, b)	TAP_CMP(tap_int, a, b, #a, #b, TAP_LT)
#define ASSERT_INT_LE(a, b)	TAP_CMP(tap_int, a, b, #a, #b, TAP_LE)
#define ASSERT_INT_GT(a, b)	TAP_CMP(tap_int, a, b, #a, #b, TAP_GT)
#define ASSERT_INT_GE(a, b)	TAP_CMP(tap_int, a, b, #a, #b, TAP_GE)
#define ASSERT_STRING_EQ(a, b)	TAP_CMP(tap_string, a, b, #a, #b, TAP_EQ)
#define ASSERT_STRING_NE(a, b)	TAP_CMP(tap_string, a, b, #a, #b, TAP_NE)
#define ASSERT_PTR_EQ(a, b)	TAP_CMP(tap_ptr, a, b, #a, #b, TAP_EQ)
#define ASSERT_PTR_NE(a, b)	TAP_CMP(tap_ptr, a, b, #a, #b, TAP_NE)
#define ASSERT_MEM_EQ(a, b, l)	ASSERT_MEM(a, b, l, #a, #b, TAP_EQ)
#define ASSERT_MEM_NE(a, b, l)	ASSERT_MEM(a, b, l, #a, #b, TAP_NE)

/* One TAP line for a plain condition; the description is printf-style. */
__attribute__((format(printf, 2, 3)))
static inline int
tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", cond ? "ok" : "not ok", ++tap_n);
	if (tap_case != NULL)
		printf("%s: ", tap_case);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		tap_case_failed = 1;
	}
	return cond;
}

/* Start a named case: its assertions are reported under its name. */
static inline void
tap_case_start(const char *name)
{
	tap_case = name;
	tap_case_failed = 0;
}

/* End the current case. */
static inline void
tap_case_done(void)
{
	tap_case = NULL;
}

/* The operator a predicate is written with. */
static inline const char *
tap_pred_op(enum tap_pred p)
{
	static const char *ops[] = { "==", "!=", "<", "<=", ">", ">=" };

	return ops[p];
}

/* Whether a three-way comparison result c satisfies the predicate. */
static inline int
tap_pred_holds(int c, enum tap_pred p)
{
	switch (p) {
	case TAP_EQ:
		return c == 0;
	case TAP_NE:
		return c != 0;
	case TAP_LT:
		return c < 0;
	case TAP_LE:
		return c <= 0;
	case TAP_GT:
		return c > 0;
	case TAP_GE:
		return c >= 0;
	}
	return 0;
}

/* The TAP line of a comparison; on failure where it is. */
static inline int
tap_cmp_line(int ok, const char *file, int line, const char *a1, const char *a2, enum tap_pred p)
{
	tap_ok(ok, "%s %s %s", a1, tap_pred_op(p), a2);
	if (!ok)
		printf("# %s:%d\n", file, line);
	return ok;
}

/* Print a string on a comment line, escaping what is not printable ASCII. */
static inline void
tap_print_string(const char *label, const char *s)
{
	printf("#   %s ", label);
	if (s == NULL) {
		printf("NULL\n");
		return;
	}
	putchar('"');
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f || *s == '"' ||
		    *s == '\\')
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
	}
	printf("\"\n");
}

/* Skip an assertion of a case that has already failed: an "ok ... # SKIP" line. */
static inline int
tap_skip(const char *a1, const char *a2, enum tap_pred p)
{
	if (tap_case == NULL || !tap_case_failed)
		return 0;
	printf("ok %d - %s: %s", ++tap_n, tap_case, a1);
	if (a2 != NULL)
		printf(" %s %s", tap_pred_op(p), a2);
	printf(" # SKIP after a failure in this case\n");
	return 1;
}

/* A condition that must hold; on failure where it is. */
static inline int
tap_true(const char *file, int line, const char *a1, int cond)
{
	if (tap_ok(cond, "%s", a1))
		return 1;
	printf("# %s:%d\n#   %s is false\n", file, line, a1);
	return 0;
}

/* Compare two integers; on failure print both. */
static inline int
tap_int(const char *file, int line, const char *a1, const char *a2, long long v1, long long v2,
    enum tap_pred p)
{
	int	ok = tap_pred_holds(v1 < v2 ? -1 : v1 > v2, p);

	if (!tap_cmp_line(ok, file, line, a1, a2, p)) {
		printf("#   %s = %lld\n", a1, v1);
		printf("#   %s = %lld\n", a2, v2);
	}
	return ok;
}

/* Compare two strings (NULL equals only NULL); on failure print both. */
static inline int
tap_string(const char *file, int line, const char *a1, const char *a2, const char *s1,
    const char *s2, enum tap_pred p)
{
	int	c;

	if (s1 == NULL || s2 == NULL)
		c = (s1 != NULL) - (s2 != NULL);
	else
		c = strcmp(s1, s2);
	if (!tap_cmp_line(tap_pred_holds(c, p), file, line, a1, a2, p)) {
		tap_print_string("got: ", s1);
		tap_print_string("want:", s2);
		return 0;
	}
	return 1;
}

/* Compare l bytes; on failure print where they first differ and 16 bytes of each from there. */
static inline int
tap_mem(const char *file, int line, const char *a1, const char *a2, const void *m1,
    const void *m2, size_t l, enum tap_pred p)
{
	const unsigned char	*b1 = m1, *b2 = m2;
	size_t			 off, i;

	for (off = 0; off < l && b1[off] == b2[off]; off++)
		;
	if (tap_cmp_line(tap_pred_holds(off != l, p), file, line, a1, a2, p))
		return 1;
	printf("#   %zu bytes, first difference at offset %zu\n", l, off);
	if (off == l)
		return 0;
	printf("#   got: ");
	for (i = off; i < l && i < off + 16; i++)
		printf(" %02x", b1[i]);
	printf("\n#   want:");
	for (i = off; i < l && i < off + 16; i++)
		printf(" %02x", b2[i]);
	printf("\n");
	return 0;
}

/* Compare two pointers; on failure print both. */
static inline int
tap_ptr(const char *file, int line, const char *a1, const char *a2, const void *p1,
    const void *p2, enum tap_pred p)
{
	int	ok = tap_pred_holds(p1 != p2, p);

	if (!tap_cmp_line(ok, file, line, a1, a2, p)) {
		printf("#   %s = %p\n", a1, p1);
		printf("#   %s = %p\n", a2, p2);
	}
	return ok;
}

/* The plan; the exit status is 1 when anything failed. */
static inline int
tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
