//! demo-app: a stand-in for your own static program in a `FROM scratch` image, where there is
//! no shell for run scripts. `service/NAME/run` and `service/NAME/finish` are symlinks to it;
//! it tells the two apart by argv[0] and takes its name from the service directory (its cwd).
//! As `./run` it logs a line every TICK seconds (default 5) until SIGTERM, then logs and exits 0.
//! As `./finish EXIT SIGNAL` it logs what runsv passed. Build: rustc -O --target
//! x86_64-unknown-linux-musl demo-app.rs (a static binary: no libc is needed in the image).
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_: i32) {
    STOP.store(true, Ordering::SeqCst);
}

unsafe extern "C" {
    // From the C library linked into every Rust program (statically with musl).
    fn signal(sig: i32, handler: extern "C" fn(i32)) -> usize;
}

const SIGTERM: i32 = 15;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let role = args.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
    let cwd = std::env::current_dir().unwrap_or_default();
    let name = cwd.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "app".into());
    if role == "finish" {
        let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("?");
        println!("{name}: finish ran (exit={} signal={})", arg(1), arg(2));
        return;
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe { signal(SIGTERM, on_term) };
    let tick: u64 = std::env::var("TICK").ok().and_then(|t| t.parse().ok()).unwrap_or(5);
    println!("{name}: started (pid {}), no shell in this image", std::process::id());
    let mut n = 0u64;
    while !STOP.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        n += 1;
        if n % (tick * 10) == 0 {
            println!("{name}: tick {}", n / (tick * 10));
        }
    }
    println!("{name}: SIGTERM, exiting");
}
