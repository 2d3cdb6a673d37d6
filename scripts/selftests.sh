#!/usr/bin/env bash
# Build the kernel's own mm selftests (static binaries) and lib/test_hmm.ko
# from Debian's linux-source package of each guest kernel series, so that the
# guests can run the kernel's tests next to ours.
#
#   scripts/selftests.sh [SERIES...]    default: every series of scripts/kernel-series
#   scripts/selftests.sh --help
#
# Layout, per series, under ${MIRRORLAB_CACHE:-/var/cache/mirrorlab}/selftests/<series>/:
#   bin/<name>           static x86-64 binaries from tools/testing/selftests/mm
#                        (tools/testing/selftests/vm before 6.3)
#   modules/test_hmm.ko  only where the kernel can load it (CONFIG_DEVICE_PRIVATE);
#                        its vermagic is the kernel's release
#   reference/           run_vmtests.sh and test_hmm.sh of the same source, to read
#   manifest.json        {"series","release","source":{"package","version","sha256"},
#                         "built":{"<name>":true},"notBuilt":{"<name>":"reason"},
#                         "testHmm":true|"reason","compiler","created"}
#   .complete            written last: the inputs the directory was built from
# A series' aliases are symlinks to it (selftests/sid -> 7.2), as under kernels/.
#
# The source is linux-source-<series> at the version of the kernel's own
# packages (the kernel cache's manifest.json; scripts/kernels.sh must have
# provisioned the series), downloaded through scripts/debian-apt.sh (sid's
# through its own apt configuration). It is extracted, without the parts no
# build here reads (drivers, fs, net, sound, other architectures,
# Documentation), into <cache>/src/linux-source-<series>_<version>/, which is
# removed after a successful build. libnuma-dev and liburing-dev of the same
# suite are extracted into it, not installed, for the static links (migration
# needs libnuma, cow's and gup_longterm's io_uring cases liburing). A series
# whose kernel comes from another suite than the host's (sid) is built in that
# suite's build root (scripts/buildroot.sh) with the compiler the kernel was
# built with; the host's series with the host's compiler.
#
# Cached: a series whose .complete names the same source, libraries, compiler,
# binary list and recipe number is skipped. One binary that fails to build is recorded in
# notBuilt with the compiler's first error; a download, extraction or headers
# failure, or no binary built at all, stops the script with a non-zero status.
# An unknown series exits with status 2 before anything is done.
set -euo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
source "$scripts/kernel-series.sh"
source "$scripts/debian-apt.sh"

out_root=$cache/selftests
jobs=${MIRRORLAB_MAKE_JOBS:-2}

# The binaries wanted, whatever the source has: uffd-unit-tests and
# uffd-stress replaced userfaultfd in 6.3.
wanted=(hmm-tests cow gup_longterm gup_test uffd-unit-tests uffd-stress userfaultfd
	madv_populate pagemap_ioctl migration khugepaged)
libs=(libnuma-dev liburing-dev)
# Part of the cache key: raise it when a change here changes what is built.
recipe=4
reference=(run_vmtests.sh test_hmm.sh)

log() { printf 'selftests: %s\n' "$*" >&2; }
die() { printf 'selftests: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2; }

rows=()
for name in "$@"; do
	case "$name" in
	-h | --help)
		usage
		echo "series: $(known_series)" >&2
		exit 0
		;;
	esac
	row=$(series_of "$name") || {
		printf 'selftests: error: unknown series %s (known: %s)\n' "'$name'" "$(known_series)" >&2
		exit 2
	}
	rows+=("$row")
done
[ ${#rows[@]} -gt 0 ] || mapfile -t rows < <(all_series)

mkdir -p "$out_root"
exec 9>"$out_root/.lock"
flock 9

# Timing: step NAME starts a step and ends the one before it.
step_name="" step_start=0 timings=""
step() { # name
	local now
	now=$(date +%s)
	if [ -n "$step_name" ]; then
		log "$series: $step_name took $((now - step_start))s"
		timings+="$step_name $((now - step_start))s, "
	fi
	step_name=$1 step_start=$now
}

# A string as a JSON string literal (the reasons are compiler messages).
json_str() { # text
	printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# Run a command in the source tree: in the series' build root, or on the host.
# build_series sets both for the series it builds.
broot="" src=""
in_tree() { # command...
	if [ -n "$broot" ]; then
		"$scripts/buildroot.sh" run "$broot" "$src" -- "$@"
	else
		(cd "$src" && "$@")
	fi
}

build_series() { # row
	local row=$1 kc kconfig series release suite pkg ver cc compiler key out tmp src_deb deb
	kc=$(series_cache_dir "$cache/kernels" "$row")
	[ -f "$kc/.complete" ] || die "kernel cache for $row missing ($kc); run scripts/kernels.sh $row"
	# sid's series is the one kernels.sh resolved (7.2, later 7.3).
	series=$(basename "$kc")
	release=$(cat "$kc/release")
	kconfig=$(cat "$kc/kdir")/.config
	suite=$(series_column "$row" 2)
	out=$out_root/$series
	step_name="" timings=""

	# The source package of the kernel's own version: the version of the
	# first (image) package in the kernel's manifest.
	pkg=linux-source-$series
	ver=$(sed -n 's/.*"version": "\([^"]*\)".*/\1/p' "$kc/manifest.json" | head -n1)
	[ -n "$ver" ] || die "$series: no package version in $kc/manifest.json"

	# The kernel's compiler (CONFIG_CC_VERSION_TEXT, e.g. gcc-12 or
	# x86_64-linux-gnu-gcc-16), in the build root kernels.sh named for it.
	broot=""
	if [ -f "$kc/buildroot" ]; then
		read -r broot cc <"$kc/buildroot"
		"$scripts/buildroot.sh" ensure "$broot" "$cc" >/dev/null
	else
		cc=$(sed -n 's/^CONFIG_CC_VERSION_TEXT="\([^ ]*\) .*/\1/p' "$kconfig")
		cc=${cc##*-linux-gnu-}
		command -v "$cc" >/dev/null || die "$series: the kernel's compiler $cc is not installed"
	fi
	src=$cache/src/${pkg}_$ver
	mkdir -p "$src"
	compiler=$(in_tree "$cc" --version | head -n1)

	use_suite "$suite"
	local lib_vers=() i
	mapfile -t lib_vers < <(candidate_versions "${libs[@]}")
	if [[ " ${lib_vers[*]} " = *" (none) "* ]] && apt_update "$suite"; then
		mapfile -t lib_vers < <(candidate_versions "${libs[@]}")
	fi
	key="$pkg=$ver"
	for i in "${!libs[@]}"; do
		[ "${lib_vers[$i]}" != "(none)" ] || die "$series: apt knows no ${libs[$i]} in $suite"
		key+=" ${libs[$i]}=${lib_vers[$i]}"
	done
	key+=" | $compiler | ${wanted[*]} | recipe $recipe"

	if [ -f "$out/.complete" ] && [ "$(cat "$out/.complete")" = "$key" ]; then
		rmdir "$src" 2>/dev/null || true
		link_aliases "$row" "$series"
		log "$series: cached in $out ($pkg $ver, $compiler)"
		return 0
	fi
	log "$series: building from $pkg $ver with $compiler"

	step download
	local lib_debs=()
	if ! src_deb=$(fetch_deb "$pkg" "$ver"); then
		# Lists that predate an upload name packages the archive has dropped.
		apt_update "$suite" && src_deb=$(fetch_deb "$pkg" "$ver") || die "$series: apt-get download $pkg=$ver failed"
	fi
	for i in "${!libs[@]}"; do
		deb=$(fetch_deb "${libs[$i]}" "${lib_vers[$i]}") || die "$series: apt-get download ${libs[$i]}=${lib_vers[$i]} failed"
		lib_debs+=("$deb")
	done

	step extract
	local top
	find "$src" -mindepth 1 -delete
	top=$(dpkg-deb -c "$src_deb" | awk '$NF ~ /\/usr\/src\/linux-source-.*\.tar\.xz$/ { print $NF; exit }')
	[ -n "$top" ] || die "$series: no source tarball in $src_deb"
	top=$(basename "$top" .tar.xz)
	dpkg-deb --fsys-tarfile "$src_deb" | tar -xOf - "./usr/src/$top.tar.xz" |
		tar -xJf - -C "$src" --strip-components=1 --anchored \
			--exclude="$top/drivers" --exclude="$top/fs" --exclude="$top/net" \
			--exclude="$top/sound" --exclude="$top/Documentation" \
			--exclude="$top/arch/[a-w]*" --exclude="$top/arch/xtensa" ||
		die "$series: extracting $top.tar.xz from $src_deb failed"
	for deb in "${lib_debs[@]}"; do
		dpkg -x "$deb" "$src/.libs"
	done

	local blog=$src/.logs
	mkdir -p "$blog"
	step headers
	in_tree make -s -j"$jobs" HOSTCC="$cc" headers >"$blog/headers.log" 2>&1 || {
		tail -n 30 "$blog/headers.log" >&2
		die "$series: make headers failed (log: $blog/headers.log)"
	}

	# The harness kills a case after TEST_TIMEOUT_DEFAULT (30 s), a limit
	# made for hardware: under TCG our debug kernel (KASAN, lockdep) takes
	# longer than that over hmm-tests' migrate_multiple and
	# migrate_remap_fault, which then fail as "terminated by timeout" with
	# nothing wrong. Every suite still runs under its own limit
	# (src/selftests/suites.ts), which ends a case that hangs.
	local harness=$src/tools/testing/selftests/kselftest_harness.h
	sed -i 's/^#define TEST_TIMEOUT_DEFAULT 30$/#define TEST_TIMEOUT_DEFAULT 180/' "$harness"
	grep -q '^#define TEST_TIMEOUT_DEFAULT 180$' "$harness" ||
		log "$series: the harness has no 30 s TEST_TIMEOUT_DEFAULT to raise; its cases keep their own limit"

	step binaries
	local dir=tools/testing/selftests/mm name targets=()
	[ -d "$src/$dir" ] || dir=tools/testing/selftests/vm
	[ -d "$src/$dir" ] || die "$series: no tools/testing/selftests/mm or vm in $pkg $ver"
	for name in "${wanted[@]}"; do
		[ -f "$src/$dir/$name.c" ] && targets+=("$name")
	done
	# One make per binary, so that one failure leaves the others built and
	# its log names only its own errors. The extracted libraries reach every
	# compiler call through gcc's search paths, also the probe that decides
	# whether liburing is there (6.12's check_config.sh is given only $(CC)).
	# shellcheck disable=SC2016 # expanded by the inner shell
	in_tree bash -c 'dir=$1 cc=$2 libs=$3 logs=$4; shift 4
		export C_INCLUDE_PATH=$libs/usr/include LIBRARY_PATH=$libs/usr/lib/x86_64-linux-gnu
		for t; do
			make -C "$dir" CC="$cc" LDFLAGS=-static "$PWD/$dir/$t" >"$logs/$t.log" 2>&1 && continue
			# Debian 6.12.117'"'"'s khugepaged.c uses KSFT_SKIP without
			# including kselftest.h (upstream includes it); give
			# such a file the header rather than lose the suite.
			grep -q "KSFT_[A-Z]*. undeclared" "$logs/$t.log" || continue
			echo "retrying with -include kselftest.h" >>"$logs/$t.log"
			make -C "$dir" CC="$cc" LDFLAGS=-static EXTRA_CFLAGS="-include ../kselftest.h" \
				"$PWD/$dir/$t" >>"$logs/$t.log" 2>&1 || true
		done' selftests "$dir" "$cc" "$src/.libs" "$blog" "${targets[@]}"

	tmp=$out_root/.$series.new
	rm -rf "$tmp"
	mkdir -p "$tmp/bin" "$tmp/reference"
	local built=() not_built=() reason f
	for name in "${wanted[@]}"; do
		f=$src/$dir/$name
		if [ ! -f "$src/$dir/$name.c" ]; then
			reason="no $name.c in $dir of $pkg $ver"
		elif [ ! -f "$f" ]; then
			reason=$(grep -m1 -E 'error|undefined reference' "$blog/$name.log" || tail -n1 "$blog/$name.log")
			reason="build failed: $reason"
		elif ! file -b "$f" | grep -q 'statically linked'; then
			reason="not statically linked: $(file -b "$f")"
		else
			cp -p "$f" "$tmp/bin/"
			built+=("$name")
			continue
		fi
		not_built+=("$name" "$reason")
		log "$series: $name not built: $reason"
	done
	[ ${#built[@]} -gt 0 ] || die "$series: no selftest built (logs: $blog)"
	for f in "${reference[@]}"; do
		[ -f "$src/$dir/$f" ] && cp -p "$src/$dir/$f" "$tmp/reference/"
	done

	step test_hmm
	local test_hmm
	if ! grep -q '^CONFIG_DEVICE_PRIVATE=y' "$kconfig"; then
		test_hmm="CONFIG_DEVICE_PRIVATE is not set in $release: test_hmm cannot create device-private memory"
	elif [ ! -f "$src/lib/test_hmm.c" ]; then
		test_hmm="no lib/test_hmm.c in $pkg $ver"
	else
		local mdir=$src/.test_hmm vm
		mkdir -p "$mdir"
		cp "$src/lib/test_hmm.c" "$src/lib/test_hmm_uapi.h" "$mdir/"
		echo 'obj-m := test_hmm.o' >"$mdir/Kbuild"
		if ! "$scripts/kbuild.sh" "$kc" "$mdir" -s -j"$jobs" >"$blog/test_hmm.log" 2>&1; then
			test_hmm="build failed: $(grep -m1 -E 'error' "$blog/test_hmm.log" || tail -n1 "$blog/test_hmm.log")"
		else
			vm=$(modinfo -F vermagic "$mdir/test_hmm.ko")
			if [ "${vm%% *}" = "$release" ]; then
				mkdir -p "$tmp/modules"
				cp -p "$mdir/test_hmm.ko" "$tmp/modules/"
				test_hmm=true
			else
				test_hmm="vermagic '$vm' does not match $release"
			fi
		fi
	fi
	[ "$test_hmm" = true ] || log "$series: no test_hmm.ko: $test_hmm"

	step manifest
	{
		printf '{\n  "series": "%s",\n  "release": "%s",\n' "$series" "$release"
		printf '  "source": { "package": "%s", "version": "%s", "sha256": "%s" },\n' \
			"$pkg" "$ver" "$(sha256sum "$src_deb" | cut -d' ' -f1)"
		printf '  "built": {'
		for i in "${!built[@]}"; do
			printf '%s "%s": true' "$([ "$i" -gt 0 ] && echo ,)" "${built[$i]}"
		done
		printf ' },\n  "notBuilt": {'
		for ((i = 0; i < ${#not_built[@]}; i += 2)); do
			printf '%s\n    "%s": %s' "$([ "$i" -gt 0 ] && echo ,)" "${not_built[$i]}" "$(json_str "${not_built[$i + 1]}")"
		done
		[ ${#not_built[@]} -gt 0 ] && printf '\n  '
		printf '},\n  "testHmm": %s,\n' "$([ "$test_hmm" = true ] && echo true || json_str "$test_hmm")"
		printf '  "compiler": %s,\n  "created": "%s"\n}\n' "$(json_str "$compiler")" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$tmp/manifest.json"

	rm -rf "$out.old"
	[ -e "$out" ] && mv "$out" "$out.old"
	mv "$tmp" "$out"
	rm -rf "$out.old"
	echo "$key" >"$out/.complete"
	link_aliases "$row" "$series"
	step cleanup
	# The binaries are all that is kept; the tree takes seconds to extract again.
	rm -rf "$src"
	step ""
	log "$series: ready in $out (${timings%, }); built: ${built[*]}"
}

# Point the row's aliases at its directory (relative links, as kernels.sh).
link_aliases() { # row series
	local a
	for a in $(series_column "$1" 5 | tr ',' ' '); do
		[ "$a" = - ] || ln -sfn "$2" "$out_root/$a"
	done
}

for row in "${rows[@]}"; do
	build_series "$row"
done
