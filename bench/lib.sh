# Shared by bench/run.sh and bench/idle.sh (sourced, not run).

# Busy CPU of the whole machine over 2 s, in hundredths of a core.
machine_busy() {
  local a b
  a=($(head -1 /proc/stat)); sleep 2; b=($(head -1 /proc/stat))
  local busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]+b[8]) - (a[1]+a[2]+a[3]+a[6]+a[7]+a[8]) ))
  echo $(( busy * 100 / (2 * $(getconf CLK_TCK)) ))
}

# Waits (up to $quiet_wait seconds) until the rest of the machine uses under
# 10% of a core: a measurement on a busy machine is not one.
wait_quiet() {
  local waited=0 busy me
  me="$(basename "$0")"
  while busy=$(machine_busy); [ "$busy" -gt 10 ]; do
    if [ "$waited" -ge "$quiet_wait" ]; then
      echo "$me: the machine is still busy (${busy}% of a core); measuring anyway, the summary will say so" >&2
      return
    fi
    echo "$me: machine busy (${busy}% of a core), waiting" >&2
    sleep 8; waited=$((waited + 10))
  done
}
