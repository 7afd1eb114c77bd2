//! Coupa's invitation to a user created with `generate-password-and-notify`: an e-mail asking them
//! to set a password, put in the sandbox's mailbox. The flag itself is write-only, as in Coupa: it
//! is never stored or returned.

use crate::mailbox::check_address;
use crate::server::AppState;
use coupa_wire::User;

/// Sends the invitation to `user`, when their e-mail address can take one.
pub(crate) fn send(state: &AppState, user: &User) {
    let (Some(email), Some(login)) = (user.email.as_deref(), user.login.as_deref()) else {
        return;
    };
    if check_address(email).is_err() {
        tracing::warn!(
            login,
            "invitation not sent: the user's e-mail address cannot take one"
        );
        return;
    }
    let name = user.firstname.as_deref().unwrap_or(login);
    let subject = "Welcome to Coupa: set your password";
    let body = format!(
        "Hello {name},\n\nA Coupa account was created for you (login {login}).\n\
         Follow the link Coupa would send here to set your password and sign in.\n"
    );
    let id = state.mailbox.send_own(&[email.to_string()], subject, &body);
    tracing::info!(login, message = id, "users: password invitation sent");
}
