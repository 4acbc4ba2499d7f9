//! The significance test the report's splits and a campaign's A/B decision
//! share: a pooled two-proportion z-test, which needs no prior and reads as
//! "how surprising is this gap if the two were equal".

/// The standard normal CDF (Abramowitz–Stegun 7.1.26 for erf; error below
/// 1.5e-7, plenty for a p-value).
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// Two-sided p-value of the difference between conversion rates
/// `c1/n1` and `c2/n2` (pooled two-proportion z-test).
pub fn two_proportion_p(c1: i64, n1: i64, c2: i64, n2: i64) -> Option<f64> {
    if n1 <= 0 || n2 <= 0 {
        return None;
    }
    let (c1, n1, c2, n2) = (c1 as f64, n1 as f64, c2 as f64, n2 as f64);
    let pooled = (c1 + c2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    if se == 0.0 {
        return Some(1.0);
    }
    let z = (c1 / n1 - c2 / n2) / se;
    Some(2.0 * (1.0 - normal_cdf(z.abs())))
}
