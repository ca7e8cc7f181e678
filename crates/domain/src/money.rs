//! Money in integer minor units, and splitting an amount between parties.
//!
//! Amounts are `i64` counts of the currency's minor unit (cents, pence):
//! never floating point, so a sum of shares is exactly the total. A split is
//! given in basis points (1/100 of a percent, 10 000 = the whole) and shared
//! out by the largest-remainder method: each party first gets the floor of
//! their exact share, and the few minor units left over go one each to the
//! parties whose exact shares lost the most to that rounding (ties to the
//! earlier party). The shares always sum exactly to the total, and no share
//! is more than one minor unit away from its exact value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// The whole of a split, in basis points.
pub const WHOLE_BASIS_POINTS: u32 = 10_000;

/// An ISO 4217 currency code (three upper-case letters), with the number of
/// minor-unit digits it uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    /// Parses a code such as `EUR` (case-insensitive on input).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ValidationError::new(
                "currency",
                "must be a three-letter ISO 4217 code such as EUR",
            ));
        }
        Ok(Currency(code))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point in this currency's usual notation.
    pub fn minor_digits(&self) -> u32 {
        match self.0.as_str() {
            // ISO 4217 currencies without a minor unit in everyday use.
            "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XOF" | "XAF" | "UGX" | "PYG" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
            _ => 2,
        }
    }

    /// `amount` minor units written with its decimal point and code, e.g.
    /// `1234.50 EUR` (for screens and documents; no locale grouping).
    pub fn format(&self, amount: i64) -> String {
        let digits = self.minor_digits();
        let sign = if amount < 0 { "-" } else { "" };
        let abs = amount.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs} {}", self.0);
        }
        let unit = 10u64.pow(digits);
        format!(
            "{sign}{}.{:0width$} {}",
            abs / unit,
            abs % unit,
            self.0,
            width = digits as usize
        )
    }
}

impl TryFrom<String> for Currency {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A non-negative amount of minor units as typed by an admin (a rate, a
/// fee). Bounded so that sums over a case cannot overflow.
pub fn parse_amount(field: &'static str, minor: i64) -> Result<i64, ValidationError> {
    // A trillion minor units: ten billion in a two-digit currency.
    const MAX: i64 = 1_000_000_000_000;
    if !(0..=MAX).contains(&minor) {
        return Err(ValidationError::new(
            field,
            "must be between 0 and 1000000000000 minor units",
        ));
    }
    Ok(minor)
}

/// How an amount is shared between parties: basis points per party, in the
/// order given, summing to [`WHOLE_BASIS_POINTS`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split(Vec<u32>);

impl Split {
    /// Checks that there is at least one share, each at most the whole, and
    /// that they sum to exactly the whole.
    pub fn new(basis_points: Vec<u32>) -> Result<Self, ValidationError> {
        let err = |m: &str| ValidationError::new("shares", m);
        if basis_points.is_empty() {
            return Err(err("must name at least one party"));
        }
        let mut sum: u32 = 0;
        for bp in &basis_points {
            if *bp > WHOLE_BASIS_POINTS {
                return Err(err("each share must be at most 100%"));
            }
            sum += bp;
        }
        if sum != WHOLE_BASIS_POINTS {
            return Err(err("must add up to exactly 100%"));
        }
        Ok(Split(basis_points))
    }

    /// Equal shares for `n` parties (the first ones get the odd basis points).
    pub fn equal(n: usize) -> Option<Self> {
        let n32 = u32::try_from(n).ok().filter(|n| *n > 0)?;
        let base = WHOLE_BASIS_POINTS / n32;
        let extra = (WHOLE_BASIS_POINTS % n32) as usize;
        Some(Split((0..n).map(|i| base + u32::from(i < extra)).collect()))
    }

    /// The basis points, in order.
    pub fn basis_points(&self) -> &[u32] {
        &self.0
    }

    /// Shares `total` (any sign) by the largest-remainder method: the result
    /// has one amount per party, in order, summing exactly to `total`.
    pub fn apportion(&self, total: i64) -> Vec<i64> {
        let negative = total < 0;
        let magnitude = i128::from(total).abs();
        let whole = i128::from(WHOLE_BASIS_POINTS);
        let mut shares: Vec<i128> = Vec::with_capacity(self.0.len());
        let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(self.0.len());
        for (i, bp) in self.0.iter().enumerate() {
            let exact = magnitude * i128::from(*bp);
            shares.push(exact / whole);
            remainders.push((exact % whole, i));
        }
        let given: i128 = shares.iter().sum();
        let left = usize::try_from(magnitude - given).unwrap_or(0);
        // Largest remainder first; on a tie, the earlier party.
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i) in remainders.into_iter().take(left) {
            shares[i] += 1;
        }
        shares
            .into_iter()
            .map(|s| {
                // Each share is at most |total|, which came from an i64.
                let s = i64::try_from(s).unwrap_or(i64::MAX);
                if negative {
                    -s
                } else {
                    s
                }
            })
            .collect()
    }
}

/// Shares `total` (not negative) equally between `n` parties: each gets the
/// floor of `total / n` and the first `total % n` one unit more, so the
/// amounts differ by at most one unit and sum exactly to `total`.
pub fn apportion_equally(total: i64, n: usize) -> Vec<i64> {
    let Ok(count) = i64::try_from(n) else {
        return Vec::new();
    };
    if count == 0 {
        return Vec::new();
    }
    let base = total.div_euclid(count);
    let extra = total.rem_euclid(count);
    (0..count).map(|i| base + i64::from(i < extra)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currencies_parse_and_format() {
        let eur = Currency::parse("eur").unwrap();
        assert_eq!(eur.as_str(), "EUR");
        assert_eq!(eur.format(123_450), "1234.50 EUR");
        assert_eq!(eur.format(-5), "-0.05 EUR");
        assert_eq!(Currency::parse("JPY").unwrap().format(1200), "1200 JPY");
        assert_eq!(Currency::parse("KWD").unwrap().format(1), "0.001 KWD");
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("E1R").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn amounts_are_bounded() {
        assert_eq!(parse_amount("rate", 0), Ok(0));
        assert!(parse_amount("rate", -1).is_err());
        assert!(parse_amount("rate", 1_000_000_000_001).is_err());
    }

    #[test]
    fn splits_must_add_up() {
        assert!(Split::new(vec![]).is_err());
        assert!(Split::new(vec![5000, 4999]).is_err());
        assert!(Split::new(vec![5000, 5001]).is_err());
        assert!(Split::new(vec![10_001]).is_err());
        assert!(Split::new(vec![10_000, 0]).is_ok());
    }

    #[test]
    fn thirds_go_to_the_largest_remainders() {
        let split = Split::equal(3).unwrap();
        assert_eq!(split.basis_points(), &[3334, 3333, 3333]);
        assert_eq!(split.apportion(100), vec![34, 33, 33]);
        assert_eq!(split.apportion(-100), vec![-34, -33, -33]);
        // 1/3 each exactly: the remainders tie and the earlier parties win.
        let exact = Split::new(vec![3333, 3333, 3334]).unwrap();
        assert_eq!(exact.apportion(1), vec![0, 0, 1]);
        assert_eq!(exact.apportion(2), vec![1, 0, 1]);
    }

    #[test]
    fn a_seventy_thirty_split_of_an_odd_total() {
        let split = Split::new(vec![7000, 3000]).unwrap();
        assert_eq!(split.apportion(1001), vec![701, 300]);
        assert_eq!(split.apportion(0), vec![0, 0]);
    }

    fn any_split() -> impl Strategy<Value = Split> {
        // Random cut points in 0..=10000 give random shares that sum to the whole.
        proptest::collection::vec(0u32..=WHOLE_BASIS_POINTS, 0..12).prop_map(|mut cuts| {
            cuts.push(0);
            cuts.push(WHOLE_BASIS_POINTS);
            cuts.sort_unstable();
            Split::new(cuts.windows(2).map(|w| w[1] - w[0]).collect()).unwrap()
        })
    }

    proptest! {
        #[test]
        fn shares_sum_exactly_and_stay_within_one_unit(
            split in any_split(),
            total in -1_000_000_000_000i64..=1_000_000_000_000i64,
        ) {
            let shares = split.apportion(total);
            prop_assert_eq!(shares.len(), split.basis_points().len());
            prop_assert_eq!(shares.iter().sum::<i64>(), total);
            for (share, bp) in shares.iter().zip(split.basis_points()) {
                let exact = i128::from(total) * i128::from(*bp);
                let scaled = i128::from(*share) * i128::from(WHOLE_BASIS_POINTS);
                prop_assert!((scaled - exact).abs() < i128::from(WHOLE_BASIS_POINTS));
                // Never the opposite sign of the total.
                prop_assert!(*share == 0 || (*share > 0) == (total > 0));
            }
        }

        #[test]
        fn equal_shares_sum_exactly(total in 0i64..=1_000_000_000_000, n in 1usize..50) {
            let shares = apportion_equally(total, n);
            prop_assert_eq!(shares.len(), n);
            prop_assert_eq!(shares.iter().sum::<i64>(), total);
            let (min, max) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
            prop_assert!(max - min <= 1);
        }

        #[test]
        fn equal_splits_are_splits(n in 1usize..200) {
            let split = Split::equal(n).unwrap();
            prop_assert_eq!(split.basis_points().iter().sum::<u32>(), WHOLE_BASIS_POINTS);
        }
    }
}
