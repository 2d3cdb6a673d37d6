#!/bin/sh
# pahole without its jobs option, for the BTF of our modules.
#
# Kbuild runs pahole with -j (-jN on newer kernels) to add BTF to each .ko.
# Threads encode the compile units in whatever order they finish, so two
# builds of the same module can get their types numbered differently: other
# .ko bytes, another initramfs, and guest states keyed by its bytes that no
# longer match (scripts/build-modules.sh passes PAHOLE=this script). One
# thread encodes in order; our modules are small enough that it costs
# nothing measurable.
for arg do
	shift
	case $arg in
	-j | -j[0-9]* | --jobs | --jobs=*) continue ;;
	esac
	set -- "$@" "$arg"
done
exec pahole "$@"
