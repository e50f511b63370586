//! The committed test vectors (`providers/vectors/*.json`), each with its source, run against
//! this crate.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::alipay::{Alipay, AlipayConfig, sign_content, verify_notification_params};
use crate::keys::{PrivateKey, PublicKey};
use crate::wechatpay::{
    ApiV3Key, EncryptedResource, JsapiPayParams, MerchantSigner, PlatformVerifier, SignedHeaders,
    Transaction, decrypt, open, request_message,
};
use crate::{NotificationEvent, ProviderError};

fn vectors(name: &str) -> Value {
    let path = format!("{}/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn file(path: &Value) -> String {
    std::fs::read_to_string(format!(
        "{}/{}",
        env!("CARGO_MANIFEST_DIR"),
        path.as_str().unwrap()
    ))
    .unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn wechatpay_sha256_with_rsa_matches_the_official_sdk() {
    for v in vectors("wechatpay.json")["sha256_with_rsa"]
        .as_array()
        .unwrap()
    {
        let key = PrivateKey::from_pem(s(&v["private_key_pkcs8_base64"])).unwrap();
        assert_eq!(
            key.sign_base64(s(&v["message"]).as_bytes()),
            s(&v["signature"]),
            "{}",
            v["name"]
        );
        assert!(
            PublicKey::from(&key).verify_base64(s(&v["message"]).as_bytes(), s(&v["signature"]))
        );
    }
}

#[test]
fn wechatpay_request_signatures_match_openssl() {
    for v in vectors("wechatpay.json")["request_signature"]
        .as_array()
        .unwrap()
    {
        let message = request_message(
            s(&v["method"]),
            s(&v["url"]),
            v["timestamp"].as_i64().unwrap(),
            s(&v["nonce"]),
            s(&v["body"]),
        );
        assert_eq!(message, s(&v["message"]));
        let signer = MerchantSigner {
            mchid: "1900009191".into(),
            serial_no: "S".into(),
            key: PrivateKey::from_pem(&file(&v["key"])).unwrap(),
        };
        let header = signer.authorization(
            s(&v["method"]),
            s(&v["url"]),
            v["timestamp"].as_i64().unwrap(),
            s(&v["nonce"]),
            s(&v["body"]),
        );
        assert!(
            header.contains(&format!("signature=\"{}\"", s(&v["signature"]))),
            "{}",
            v["name"]
        );
    }
}

#[test]
fn wechatpay_response_signatures_verify_as_openssl_made_them() {
    for v in vectors("wechatpay.json")["response_signature"]
        .as_array()
        .unwrap()
    {
        let verifier = PlatformVerifier::new(
            "SERIAL",
            PublicKey::from_pem(&file(&v["public_key"])).unwrap(),
        );
        let headers = SignedHeaders {
            timestamp: s(&v["timestamp"]).into(),
            nonce: s(&v["nonce"]).into(),
            signature: s(&v["signature"]).into(),
            serial: "SERIAL".into(),
        };
        let now = s(&v["timestamp"]).parse().unwrap();
        assert_eq!(
            verifier.verify(&headers, s(&v["body"]).as_bytes(), now),
            Ok(())
        );
        assert!(
            verifier
                .verify(&headers, format!("{} ", s(&v["body"])).as_bytes(), now)
                .is_err()
        );
    }
}

#[test]
fn wechatpay_pay_sign_matches_openssl() {
    for v in vectors("wechatpay.json")["pay_sign"].as_array().unwrap() {
        let key = PrivateKey::from_pem(&file(&v["key"])).unwrap();
        let params = JsapiPayParams::sign(
            &key,
            s(&v["app_id"]),
            s(&v["prepay_id"]),
            s(&v["time_stamp"]).parse().unwrap(),
            s(&v["nonce_str"]),
        );
        assert_eq!(params.pay_sign, s(&v["pay_sign"]));
        assert_eq!(params.package, format!("prepay_id={}", s(&v["prepay_id"])));
        assert!(params.verify(&PublicKey::from(&key)));
        let json = serde_json::to_value(&params).unwrap();
        for field in [
            "appId",
            "timeStamp",
            "nonceStr",
            "package",
            "signType",
            "paySign",
        ] {
            assert!(json.get(field).is_some(), "{field}");
        }
    }
}

#[test]
fn wechatpay_resources_decrypt_as_the_sdk_and_python_did() {
    for v in vectors("wechatpay.json")["aead_aes_gcm"]
        .as_array()
        .unwrap()
    {
        let resource = EncryptedResource {
            algorithm: crate::wechatpay::ALGORITHM.into(),
            ciphertext: s(&v["ciphertext"]).into(),
            associated_data: Some(s(&v["associated_data"]).into()),
            original_type: "transaction".into(),
            nonce: s(&v["nonce"]).into(),
        };
        let key = s(&v["key"]);
        let plaintext = if key.len() == 32 {
            decrypt(&ApiV3Key::new(key).unwrap(), &resource).unwrap()
        } else {
            open(&ring::aead::AES_128_GCM, key.as_bytes(), &resource).unwrap()
        };
        assert_eq!(
            String::from_utf8(plaintext.clone()).unwrap(),
            s(&v["plaintext"]),
            "{}",
            v["name"]
        );
        if key.len() == 32 {
            let transaction: Transaction = serde_json::from_slice(&plaintext).unwrap();
            assert_eq!(transaction.amount.total, 5800);
        }
    }
}

fn params(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), s(v).to_owned()))
        .collect()
}

#[test]
fn alipay_real_notification_verifies_and_reads() {
    for v in vectors("alipay.json")["notification"].as_array().unwrap() {
        let key = PublicKey::from_pem(s(&v["alipay_public_key"])).unwrap();
        let mut p = params(&v["params"]);
        assert_eq!(
            verify_notification_params(&key, &p),
            v["valid"].as_bool().unwrap(),
            "{}",
            v["name"]
        );

        let alipay = Alipay::new(
            AlipayConfig {
                gateway: "http://127.0.0.1:9/gateway.do".into(),
                app_id: p["app_id"].clone(),
                app_key: PrivateKey::from_pem(crate::sim::test_keys::ALIPAY_APP_KEY).unwrap(),
                alipay_public_key: key.clone(),
                notify_url: "http://127.0.0.1/notify".into(),
            },
            {
                crate::sim::install_crypto_provider();
                reqwest::Client::new()
            },
        );
        let NotificationEvent::Confirmed(confirmed) =
            alipay.verify_notification_params(&p).unwrap()
        else {
            panic!("not a payment")
        };
        assert_eq!(confirmed.amount_fen, v["amount_fen"].as_u64().unwrap());
        assert_eq!(confirmed.transaction_id, p["trade_no"]);

        // The same bytes with one field changed no longer verify; nor without the signature.
        p.insert("total_amount".into(), "100.00".into());
        assert!(matches!(
            alipay.verify_notification_params(&p),
            Err(ProviderError::Alipay(
                crate::alipay::AlipayError::BadSignature
            ))
        ));
        p.remove("sign");
        assert!(matches!(
            alipay.verify_notification_params(&p),
            Err(ProviderError::Alipay(crate::alipay::AlipayError::Unsigned))
        ));
    }
}

#[test]
fn alipay_request_signatures_match_openssl() {
    for v in vectors("alipay.json")["request_signature"]
        .as_array()
        .unwrap()
    {
        let p = params(&v["params"]);
        assert_eq!(sign_content(&p, false), s(&v["content"]));
        let key = PrivateKey::from_pem(&file(&v["key"])).unwrap();
        assert_eq!(
            crate::alipay::sign_params(&key, &p),
            s(&v["sign"]),
            "{}",
            v["name"]
        );
    }
}
