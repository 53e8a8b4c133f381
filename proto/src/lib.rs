//! Messages between the runvm host monitor and the guest agent.
