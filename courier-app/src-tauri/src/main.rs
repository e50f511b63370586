//! Desktop entry point of the courier app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    shuipiao_courier_app::run();
}
