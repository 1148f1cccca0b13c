// ctool is an Airlock tool written in C against the Extism ABI, with no
// SDK and no libc: tool authors in C import the kernel's functions from
// "extism:host/env" and export one function per tool. It backs
// TestCToolRunsInFreshState; ctool.wasm next to it is this file built by
// `make testdata-c` (clang --target=wasm32 -O2 -nostdlib, wasm-ld).
//
// echo: returns its input unchanged.
// count: a static counter, incremented by every call and returned as
//   {"calls":N,"scratch":M}, M being the byte the previous call left at the
//   end of a static buffer (0xAB = 171). In fresh state every call sees
//   N == 1 and M == 0.
#include <stdint.h>

#define IMPORT(name) __attribute__((import_module("extism:host/env"), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("input_length") uint64_t input_length(void);
IMPORT("input_load_u8") uint8_t input_load_u8(uint64_t offset);
IMPORT("alloc") uint64_t alloc(uint64_t n);
IMPORT("store_u8") void store_u8(uint64_t offset, uint8_t b);
IMPORT("output_set") void output_set(uint64_t offset, uint64_t n);

static uint32_t calls;
static uint8_t scratch[4096];

static void output(const char *s, uint64_t n) {
	uint64_t off = alloc(n);
	for (uint64_t i = 0; i < n; i++) {
		store_u8(off + i, (uint8_t)s[i]);
	}
	output_set(off, n);
}

// decimal writes v at p and returns the number of digits.
static int decimal(char *p, uint32_t v) {
	char tmp[10];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++) {
		p[i] = tmp[n - 1 - i];
	}
	return n;
}

EXPORT("echo") int32_t echo(void) {
	uint64_t n = input_length();
	uint64_t off = alloc(n);
	for (uint64_t i = 0; i < n; i++) {
		store_u8(off + i, input_load_u8(i));
	}
	output_set(off, n);
	return 0;
}

EXPORT("count") int32_t count(void) {
	calls++;
	uint8_t left = scratch[sizeof scratch - 1];
	scratch[sizeof scratch - 1] = 0xAB;
	char buf[64] = "{\"calls\":";
	int n = 9;
	n += decimal(buf + n, calls);
	const char *mid = ",\"scratch\":";
	for (int i = 0; mid[i]; i++) {
		buf[n++] = mid[i];
	}
	n += decimal(buf + n, left);
	buf[n++] = '}';
	output(buf, (uint64_t)n);
	return 0;
}
