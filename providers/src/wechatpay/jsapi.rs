//! The parameters of `WeixinJSBridge.invoke('getBrandWCPayRequest', …)` with their `paySign`.
//!
//! JSAPI调起支付 (<https://pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter3_1_4.shtml>): the four-line message
//! `appId\ntimeStamp\nnonceStr\npackage\n` (package being `prepay_id=…`), signed SHA256withRSA with
//! the merchant API key; `signType` is `"RSA"` and takes no part in the signature.

use serde::{Deserialize, Serialize};

use crate::keys::PrivateKey;

/// What the wallet page hands to `getBrandWCPayRequest`, field names as the bridge expects them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiPayParams {
    /// 公众号 AppID.
    #[serde(rename = "appId")]
    pub app_id: String,
    /// Seconds since the epoch, as a string.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    /// Random string of at most 32 characters.
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    /// Always `"RSA"`.
    #[serde(rename = "signType")]
    pub sign_type: String,
    /// Base64 SHA256withRSA signature of the four-line message.
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// The message `paySign` signs.
pub fn pay_sign_message(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> String {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n")
}

impl JsapiPayParams {
    /// Signs the parameters for one prepay id.
    pub fn sign(
        key: &PrivateKey,
        app_id: &str,
        prepay_id: &str,
        timestamp: i64,
        nonce_str: &str,
    ) -> Self {
        let time_stamp = timestamp.to_string();
        let package = format!("prepay_id={prepay_id}");
        let pay_sign =
            key.sign_base64(pay_sign_message(app_id, &time_stamp, nonce_str, &package).as_bytes());
        Self {
            app_id: app_id.to_owned(),
            time_stamp,
            nonce_str: nonce_str.to_owned(),
            package,
            sign_type: "RSA".to_owned(),
            pay_sign,
        }
    }

    /// Whether `pay_sign` is the merchant's signature of the other fields (the simulator checks it
    /// as the WeChat client would).
    pub fn verify(&self, merchant: &crate::keys::PublicKey) -> bool {
        self.sign_type == "RSA"
            && merchant.verify_base64(
                pay_sign_message(
                    &self.app_id,
                    &self.time_stamp,
                    &self.nonce_str,
                    &self.package,
                )
                .as_bytes(),
                &self.pay_sign,
            )
    }
}
