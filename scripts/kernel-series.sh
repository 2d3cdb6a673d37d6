# Sourced by kernels.sh and build-modules.sh: reads scripts/kernel-series
# (its header describes the columns). Comments and blank lines are skipped;
# a row is one series whatever rows come before or after it.

kernel_series_file=$(dirname "${BASH_SOURCE[0]}")/kernel-series

# The rows, without comments and blank lines.
series_rows() {
	awk '{ sub(/#.*/, "") } NF' "$kernel_series_file"
}

# The series to use when none is named, one per line.
default_series() {
	series_rows | awk '$4 == "yes" { print $1 }'
}

# Every accepted name, for messages: "6.1 6.12 7.2 (sid)".
known_series() {
	series_rows | awk '{ printf "%s%s%s", sep, $1, ($5 != "" && $5 != "-") ? " (" $5 ")" : ""; sep = " " } END { print "" }'
}

# The series a name (series or alias) stands for; fails for an unknown name.
series_of() { # name
	series_rows | awk -v name="$1" '
		{ n = split($5, alias, ",") }
		$1 == name { print $1; found = 1; exit }
		{ for (i = 1; i <= n; i++) if (alias[i] == name) { print $1; found = 1; exit } }
		END { exit !found }'
}

# One column of a series' row: 2 debian-suite, 3 meta-package.
series_column() { # series column
	series_rows | awk -v s="$1" -v c="$2" '$1 == s { print $c; exit }'
}

# Every series, default or not, one per line (setup provisions them all).
all_series() {
	series_rows | awk '{ print $1 }'
}

# The cache directory holding a series under kernels-root: <series>/, or,
# for a suite that moves on (sid), the directory one of its aliases links to
# (kernels/sid -> 7.3 once sid has 7.3; scripts/kernels.sh writes the links).
series_cache_dir() { # kernels-root series
	local a
	for a in $(series_column "$2" 5 | tr ',' ' '); do
		[ "$a" != - ] && [ -L "$1/$a" ] && { readlink -f "$1/$a"; return 0; }
	done
	echo "$1/$2"
}

# A series name, or the name of a kernel scripts/kernel-build.sh builds
# (SERIES-test, SERIES-debug, SERIES-test+PATCHES; SERIES+PATCHES is short
# for the test flavour), canonical; fails for anything else.
kernel_of() { # name
	local s
	if s=$(series_of "$1"); then
		echo "$s"
		return 0
	fi
	[[ "$1" =~ ^(.+)-(test|debug)(\+[A-Za-z0-9][A-Za-z0-9._-]*)?$ ]] ||
		[[ "$1" =~ ^(.+)()(\+[A-Za-z0-9][A-Za-z0-9._-]*)$ ]] || return 1
	s=$(series_of "${BASH_REMATCH[1]}") || return 1
	echo "$s-${BASH_REMATCH[2]:-test}${BASH_REMATCH[3]}"
}
