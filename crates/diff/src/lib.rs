//! The bsdiff-family matcher. (Skeleton: the matcher work fills this in.)
