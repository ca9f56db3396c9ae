/*
 * Fuzz target: the snapshot file's header and vCPU state parsers, the two
 * parts of a snapshot read before any memory is. Properties: no read outside
 * the buffers; an accepted header describes a file of exactly its size with
 * the state before the memory; an accepted state blob has every section
 * inside the blob with the length its kind requires.
 *
 * Input: byte 0 selects the parser (even: header, odd: state blob) and, for
 * the header, bit 1 asks to repair its checksum so the fuzzer gets past it;
 * bytes 1..8 give the file size (header mode); the rest is the bytes.
 */
#include <string.h>
#include <xxhash.h>

#include "fuzz.h"
#include "snapshot.h"
#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t hdr[SNAPSHOT_HEADER_SIZE];
	struct snapshot_header h;
	struct vm_state_view v;
	uint64_t file_size;
	char err[256];
	size_t n;

	if (size < 1)
		return 0;
	err[0] = '\0';
	if (data[0] & 1) {
		if (vm_state_parse(data + 1, size - 1, &v, err, sizeof(err))) {
			FUZZ_CHECK(err[0] != '\0');
			return 0;
		}
		FUZZ_CHECK(v.sec[S_REGS] && v.sec[S_SREGS] && v.sec[S_CLOCK]);
		for (int i = S_REGS; i <= S_CLOCK; i++)
			if (v.sec[i])
				FUZZ_CHECK(v.sec[i] >= data + 1 &&
					   v.sec[i] + v.len[i] <= data + size);
		return 0;
	}
	if (size < 9)
		return 0;
	memcpy(&file_size, data + 1, 8);
	n = size - 9 < sizeof(hdr) ? size - 9 : sizeof(hdr);
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, data + 9, n);
	if (data[0] & 2) {
		uint64_t sum = XXH3_64bits(hdr, 64);

		memcpy(hdr + 64, &sum, 8);
	}
	if (snapshot_parse_header(hdr, sizeof(hdr), file_size, &h, err,
				  sizeof(err))) {
		FUZZ_CHECK(err[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(h.mem_off + h.mem_size == file_size);
	FUZZ_CHECK(h.state_off + h.state_len <= h.mem_off);
	FUZZ_CHECK(h.mem_size % VM_MEM_ALIGN == 0);
	return 0;
}
