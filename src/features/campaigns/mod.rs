//! Campaigns that decide money: premium-set sales (プレミアム付き商品券), their lottery sales
//! (抽選販売) and rebates (還元).

pub mod lottery;
pub mod premium;
pub mod rebates;
