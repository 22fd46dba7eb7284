//! Campaigns that decide money: premium-set sales (プレミアム付き商品券) and rebates (還元).

pub mod premium;
pub mod rebates;
