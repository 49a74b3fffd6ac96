/* Fuzz target: the daemon's frame decoder, fed as a stream of frames would be. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "fg-protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fg_frame_hdr	 hdr;
	json_t			*body;
	size_t			 used, off = 0;
	static uint8_t		 out[FG_FRAME_BUF_LEN];
	size_t			 outlen;

	while (off < size) {
		if (fg_frame_decode(data + off, size - off, FG_FRAME_REQUEST, &hdr, &body,
		    &used) != FG_FRAME_OK)
			break;
		/* re-encoding may grow ("1e5" prints longer) but must stay in bounds */
		(void)fg_frame_encode(FG_FRAME_REPLY, hdr.id, body, out, sizeof(out), &outlen);
		json_decref(body);
		off += used;
	}
	return 0;
}
