/* check.h - minimal assertions for unit tests: a failed CHECK prints the
 * location and the condition, counts, and the test keeps going so one run
 * shows every failure. main() returns check_result(). */
#ifndef VIFD_TEST_CHECK_H
#define VIFD_TEST_CHECK_H

#include <stdio.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_EQ(a, b) do { \
	long long a_ = (long long)(a), b_ = (long long)(b); \
	check_count++; \
	if (a_ != b_) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
		        __FILE__, __LINE__, #a, a_, #b, b_); \
	} \
} while (0)

/* CHECK with a printf-style explanation of the values involved. */
#define CHECKF(cond, ...) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__); \
		fputc('\n', stderr); \
	} \
} while (0)

static inline int check_result(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures ? 1 : 0;
}

#endif
