# Helpers for the benchmark scripts (integration/bench/*.sh).

# median FILE: the middle value of one number a line (the lower middle for
# an even count).
median() {
	sort -n "$1" | sed -n "$((($(wc -l <"$1") + 1) / 2))p"
}

# avail_kib: MemAvailable of the (test) host, KiB.
avail_kib() {
	sed -n 's/^MemAvailable:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/meminfo
}

# row GROUP MEASURE UNIT RUNVM_FILE [REFERENCE REFERENCE_FILE]: one row of
# the benchmark table, for bench/vm.rs to gather: the runs of runvm, and of
# the reference measured in the same run, one number a line in each file.
row() {
	printf '@row\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(tr '\n' ' ' <"$4")" "${5:-}" \
		"$([ -n "${6:-}" ] && tr '\n' ' ' <"$6")"
}

# row_values GROUP MEASURE UNIT RUNVM_VALUES [REFERENCE REFERENCE_VALUES]: row
# with the values given inline, separated by spaces.
row_values() {
	printf '@row\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "${5:-}" "${6:-}"
}
