//! The results page as a browser shows it: Debian's Chromium, headless,
//! opens the page `waymark report --html` writes, takes a screenshot, and
//! the test checks that every kind of chart drew its marks (the colours of
//! bars, lines and series are on screen) and that the browser reported
//! nothing to the console. Without Chromium the test fails and says how to
//! install it (`make browser`); it is never skipped.

use crate::report_html::page;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use waymark_core::analytics::report::{By, build};
use waymark_core::analytics::{Counts, Key, STORE, field};

/// A fortnight of a welcome series with a split, and the store's orders.
fn sample_report() -> Value {
    let mut c = Counts::default();
    for d in 1..=14u8 {
        let day = jiff::civil::date(2026, 12, i8::try_from(d).unwrap());
        let sent = 40 + i64::from(d % 5) * 12;
        let j = Key::new(day, "welcome_series", 1, "");
        c.add(&j, field::ENTERED, sent);
        c.add(&j, field::SENT, sent);
        c.add(&j, field::DELIVERED, sent - 1);
        c.add(&j, field::OPENED, sent / 2);
        c.add(&j, field::CLICKED, sent / 5);
        c.add(&j, field::CONVERTED, sent / 10);
        c.add(&j, "orders", sent / 10);
        c.add(&j, "revenue:EUR", 4_500 * (sent / 10));
        for (n, step) in ["welcome", "how_it_works", "popular"]
            .into_iter()
            .enumerate()
        {
            let k = Key::new(day, "welcome_series", 1, step);
            let reached = sent >> n;
            c.add(&k, field::SENT, reached);
            c.add(&k, field::OPENED, reached / 2);
            c.add(&k, field::CLICKED, reached / 6);
        }
        for (branch, share) in [("control", 2), ("discount", 3)] {
            let k = Key::new(day, "welcome_series", 1, &format!("offer={branch}"));
            c.add(&k, field::ENTERED, sent / 2);
            c.add(&k, field::CONVERTED, sent * share / 40);
        }
        let store = Key::new(day, STORE, 0, "");
        c.add(&store, "store_revenue:EUR", 9_000 * (sent / 8));
        c.add(&store, field::STORE_ORDERS, sent / 8);
    }
    let mut report = build(&c, None, By::Day);
    report["from"] = "2026-12-01".into();
    report["to"] = "2026-12-14".into();
    report
}

/// Debian's Chromium (`make browser` installs it), or `WAYMARK_CHROMIUM`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("WAYMARK_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} not found: this test needs headless Chromium; `make browser` installs \
         Debian's package (or set WAYMARK_CHROMIUM)",
        path.display()
    );
    path
}

/// Opens `html` in headless Chromium at 1200×`height`; the screenshot's
/// RGBA pixels and what the browser logged.
fn screenshot(html: &Path, png: &Path, height: u32) -> (Vec<[u8; 4]>, String) {
    let profile = html.with_extension("profile");
    let out = Command::new(chromium())
        // The page holds no date, and the browser is not what the shifted
        // clock run (make test-shifted) checks: it runs on the real clock.
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size=1200,{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {log}");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("the screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("its pixels");
    let pixels = match info.color_type {
        png::ColorType::Rgba => buf[..info.buffer_size()]
            .chunks_exact(4)
            .map(|p| [p[0], p[1], p[2], p[3]])
            .collect(),
        png::ColorType::Rgb => buf[..info.buffer_size()]
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => panic!("unexpected screenshot colours: {other:?}"),
    };
    (pixels, log)
}

/// Pixels within a shade of `rgb` (the page's chart colours are flat).
fn count(pixels: &[[u8; 4]], rgb: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 3))
        .count()
}

#[test]
fn chromium_draws_every_chart_and_logs_nothing() {
    let catalog =
        crate::content::load_or_report(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
            .unwrap()
            .unwrap();
    let dir = std::env::temp_dir().join(format!("waymark-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    std::fs::write(&html, page(&sample_report(), &catalog)).unwrap();
    let png = dir.join("report.png");
    let (pixels, log) = screenshot(&html, &png, 1950);

    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "the browser's console: {console:#?}");
    // Bars (revenue by journey, funnels) and the first series are blue, the
    // second green, the third amber: each drew, and not as a stray pixel.
    let blue = count(&pixels, [0x3b, 0x82, 0xf6]);
    let green = count(&pixels, [0x10, 0xb9, 0x81]);
    let amber = count(&pixels, [0xf5, 0x9e, 0x0b]);
    assert!(
        blue > 2_000 && green > 100 && amber > 100,
        "chart colours on screen: blue {blue}, green {green}, amber {amber} ({})",
        png.display()
    );
    // Something other than the page's white, in a fair share of the page.
    let ink = pixels.iter().filter(|p| p[..3] != [255, 255, 255]).count();
    assert!(ink * 50 > pixels.len(), "{ink} of {} pixels", pixels.len());

    // The README's picture: `WAYMARK_SCREENSHOT=docs/report.png cargo test
    // -p waymark chromium` refreshes it.
    if let Some(to) = std::env::var_os("WAYMARK_SCREENSHOT") {
        std::fs::copy(&png, to).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_check_sees_a_console_error_and_a_blank_page() {
    let dir = std::env::temp_dir().join(format!("waymark-blank-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("blank.html");
    std::fs::write(
        &html,
        "<!doctype html><html><body><script>console.error('boom')</script></body></html>",
    )
    .unwrap();
    let (pixels, log) = screenshot(&html, &dir.join("blank.png"), 400);
    assert!(log.lines().any(|l| l.contains(":CONSOLE")), "{log}");
    assert_eq!(count(&pixels, [0x3b, 0x82, 0xf6]), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
