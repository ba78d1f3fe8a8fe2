# The PyPI anchors of fwdelta-bench, one operation per process:
#   python anchors.py TOOL diff SRC DST PATCH
#   python anchors.py TOOL apply SRC PATCH OUT
#   python anchors.py TOOL version
# TOOL is bsdiff4, hdiffpatch-lzma2 or hdiffpatch-zstd. (detools runs through its own CLI.)
import sys


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main(argv):
    tool, op = argv[0], argv[1]
    if tool == "bsdiff4":
        import bsdiff4
        dist = "bsdiff4"
        if op == "diff":
            bsdiff4.file_diff(argv[2], argv[3], argv[4])
        elif op == "apply":
            bsdiff4.file_patch(argv[2], argv[4], argv[3])
    elif tool in ("hdiffpatch-lzma2", "hdiffpatch-zstd"):
        import hdiffpatch
        dist = "hdiffpatch"
        if op == "diff":
            if tool == "hdiffpatch-lzma2":
                cfg = hdiffpatch.Lzma2Config(level=9, window=23)
            else:
                cfg = hdiffpatch.ZStdConfig(level=21, window=24)
            # The comparison checks the round trip itself, with the tool's own apply.
            write(argv[4], hdiffpatch.diff(read(argv[2]), read(argv[3]), cfg, validate=False))
        elif op == "apply":
            write(argv[4], hdiffpatch.apply(read(argv[2]), read(argv[3])))
    elif tool == "detools":
        import detools  # noqa: F401  (availability and version only)
        dist = "detools"
    else:
        sys.exit("unknown tool " + tool)
    if op == "version":
        from importlib.metadata import version
        print(version(dist))


if __name__ == "__main__":
    main(sys.argv[1:])
