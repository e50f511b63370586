//! `shuipiao-paysim`: the payment simulator on its own, for the demo and for trying a checkout
//! by hand. It prints the addresses to configure and runs until interrupted. Test keys only.

use shuipiao_providers::sim::{SimConfig, Simulator, test_keys};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let sim = Simulator::start(SimConfig::test()).await?;
    println!("支付模拟器（仅供测试，不会扣款）");
    println!("WeChat Pay base URL: {}", sim.base_url());
    println!(
        "  mchid {}, appid {}, merchant serial {}",
        test_keys::MCHID,
        test_keys::WECHAT_APPID,
        test_keys::MERCHANT_SERIAL
    );
    println!(
        "  platform key id {}, APIv3 key {}",
        test_keys::PLATFORM_SERIAL,
        test_keys::API_V3_KEY
    );
    println!("Alipay gateway: {}", sim.alipay_gateway());
    println!("  app_id {}", test_keys::ALIPAY_APP_ID);
    println!("Keys: providers/test-keys/");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
