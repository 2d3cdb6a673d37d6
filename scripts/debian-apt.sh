# Sourced by kernels.sh and selftests.sh: Debian packages of any suite,
# downloaded (never installed) into the shared .deb cache.
#
# A suite that is the host's own (bookworm) is resolved by the host's apt.
# Any other suite (sid) gets an apt configuration of its own under
# <cache>/apt/<suite>/ (its sources list, lists and package cache; the host's
# sources are never touched).
#
# Downloaded .deb files are kept in ${MIRRORLAB_DEBS:-<cache>/debs}; files already
# in /var/cache/apt/archives or /var/cache/mirrorlab/debs are reused.
# The sourcing script defines log and die.

cache=${MIRRORLAB_CACHE:-/var/cache/mirrorlab}
debs=${MIRRORLAB_DEBS:-$cache/debs}
mirror=${MIRRORLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
host_suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

# Which apt answers for a suite: the host's for its own suite, else one
# configured under <cache>/apt/<suite>/ that reads nothing of the host's
# sources or installed packages. Sets aptopts and lists.
use_suite() { # suite
	local suite=$1 dir
	aptopts=()
	lists=/var/lib/apt/lists
	[ "$suite" = "$host_suite" ] && return 0
	dir=$cache/apt/$suite
	lists=$dir/lists
	mkdir -p "$lists/partial" "$dir/archives/partial"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main" >"$dir/sources.list"
	aptopts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$lists" -o "Dir::Cache=$dir" -o Dir::State::Status=/dev/null)
}

# Refresh the lists of a suite, once per run: fails when they were already
# refreshed, so that callers retry only once.
declare -A updated=()
apt_update() { # suite
	[ -n "${updated[$1]:-}" ] && return 1
	log "apt-get update ($1)"
	apt-get "${aptopts[@]}" update -q >&2 || log "apt-get update failed (continuing with what apt knows)"
	updated[$1]=1
}

# The candidate version of each package (in the suite use_suite chose), one
# per line in the order given; "(none)" for one apt does not know.
candidate_versions() { # pkg...
	local policy p v
	policy=$(apt-cache "${aptopts[@]}" policy "$@" 2>/dev/null)
	for p in "$@"; do
		v=$(awk -v p="$p:" '$0 == p { f = 1; next } /^[^ ]/ { f = 0 } f && $1 == "Candidate:" { print $2; exit }' <<<"$policy")
		echo "${v:-(none)}"
	done
}

# Find or download pkg=version; prints the .deb path, or fails.
fetch_deb() { # name version
	local name=$1 ver=$2 f enc d
	enc=${ver//:/%3a}
	for d in "$debs" /var/cache/mirrorlab/debs /var/cache/apt/archives; do
		for f in "$d/${name}_${ver}_"*.deb "$d/${name}_${enc}_"*.deb; do
			[ -f "$f" ] && { echo "$f"; return 0; }
		done
	done
	mkdir -p "$debs"
	log "downloading $name $ver"
	(cd "$debs" && apt-get "${aptopts[@]}" -o APT::Sandbox::User=root download "$name=$ver" >&2) || return 1
	for f in "$debs/${name}_${ver}_"*.deb "$debs/${name}_${enc}_"*.deb; do
		[ -f "$f" ] && { echo "$f"; return 0; }
	done
	die "downloaded $name but cannot find its .deb in $debs"
}
