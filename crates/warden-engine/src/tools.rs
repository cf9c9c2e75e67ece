//! Stand-ins placed in every session's sandbox (read-only at [`TOOLS_INSIDE`]): `pip`,
//! `pip3` and `python3 -m pip` say that there is no network and how to ask for packages,
//! at once, instead of retrying a connection that cannot succeed.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where the tools appear in sandboxes.
pub const TOOLS_INSIDE: &str = "/opt/warden/tools";

const MESSAGE: &str = include_str!("../../../runtimes/python/tools/MESSAGE.txt");
const PIP_SCRIPT: &str = include_str!("../../../runtimes/python/tools/bin/pip");
const PIP_INIT: &str = include_str!("../../../runtimes/python/tools/python/pip/__init__.py");
const PIP_MAIN: &str = include_str!("../../../runtimes/python/tools/python/pip/__main__.py");

/// Writes the tools into `dir` (replacing what an earlier version left).
pub fn install(dir: &Path) -> std::io::Result<()> {
    let files: [(&str, &str, u32); 6] = [
        ("MESSAGE.txt", MESSAGE, 0o644),
        ("bin/pip", PIP_SCRIPT, 0o755),
        ("bin/pip3", PIP_SCRIPT, 0o755),
        ("bin/pip3.11", PIP_SCRIPT, 0o755),
        ("python/pip/__init__.py", PIP_INIT, 0o644),
        ("python/pip/__main__.py", PIP_MAIN, 0o644),
    ];
    for (name, text, mode) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
            for d in parent.ancestors().take_while(|a| a.starts_with(dir)) {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
            }
        }
        std::fs::write(&path, text)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}
