//! Stopping a running statement at the server. The server sends every row
//! of a result unasked and reads nothing on that connection until it is
//! done, so the only way to stop it early is `KILL QUERY <connection id>` on
//! another session (as the `mysql` client does on Ctrl-C). The statement
//! then ends with ER_QUERY_INTERRUPTED (1317) on its own connection, which
//! stays open and usable.

use std::time::Duration;

use inlet_sdk::deadline::Deadline;
use inlet_sdk::{ConnectorError, Steps};

use crate::dial::Target;

/// The most the cancelling session (connect, login, KILL, goodbye) may take.
pub const MAX_CANCEL_TIME: Duration = Duration::from_secs(2);

/// The time the cancelling session gets within a call bounded by the host's
/// `query_timeout` (zero: none): a twentieth of it, at most
/// [`MAX_CANCEL_TIME`], so that it fits in what the socket bound leaves.
pub fn cancel_budget(query_timeout: Duration) -> Duration {
    if query_timeout.is_zero() { MAX_CANCEL_TIME } else { MAX_CANCEL_TIME.min(query_timeout / 20) }
}

/// Opens a session to the same server as the same user, sends
/// `KILL QUERY connection_id` and closes it, all within `budget`. A user may
/// always kill its own sessions' statements, so no privilege is needed.
pub fn kill_query(target: &Target, connection_id: u32, budget: Duration) -> Result<(), ConnectorError> {
    let deadline = Deadline::after(budget);
    // Stage timings are of no use here: a failure is reported as its error.
    let mut client = target.open(&deadline, false, &mut Steps::new())?;
    client.query(&format!("KILL QUERY {connection_id}"))?;
    // Dropping the client says goodbye (COM_QUIT).
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_a_small_share_of_the_call() {
        assert_eq!(cancel_budget(Duration::ZERO), MAX_CANCEL_TIME);
        assert_eq!(cancel_budget(Duration::from_secs(10)), Duration::from_millis(500));
        assert_eq!(cancel_budget(Duration::from_secs(600)), MAX_CANCEL_TIME);
    }
}
