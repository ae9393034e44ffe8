'use strict';
// Who holds a spool claim, and whether that holder is gone: src/healloop/sources/claims.py, the same rules.
// A claim is named `<name>.json.sending-<pid>-<start>`: the flusher's pid and its start time (clock ticks
// since boot, field 22 of /proc/<pid>/stat), because a dead flusher's pid may be reused by an unrelated
// process. Where /proc is missing, and for older `.sending-<pid>` claims, the name has the pid only, and
// such a claim whose pid is alive is judged by its age.

const fs = require('node:fs');

// Delivering one entry takes seconds; a claim whose holder cannot be verified is taken back after this.
const STALE_AFTER_MS = 3600 * 1000;

function startTime(pid) {
  let stat;
  try { stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/);
  return fields.length > 19 && /^\d+$/.test(fields[19]) ? fields[19] : null;
}

function holder() {
  const start = startTime(process.pid);
  return start ? `${process.pid}-${start}` : String(process.pid);
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; }
}

// `heldBy` is `<pid>` or `<pid>-<start>`; anything else is no claim of ours and never taken.
function isStale(heldBy, ageMs) {
  const m = /^(\d+)(?:-(\d+))?$/.exec(heldBy);
  if (!m) return false;
  const pid = Number(m[1]);
  if (pid <= 0 || !alive(pid)) return true;
  const now = m[2] ? startTime(pid) : null;
  if (now !== null) return now !== m[2];
  return ageMs > STALE_AFTER_MS;
}

module.exports = { STALE_AFTER_MS, startTime, holder, isStale };
