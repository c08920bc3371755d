//! `fabric-sim`: the virtual network fabric simulator (not written yet).

fn main() {
    println!("fabric-sim is not written yet; see README.md for what runs today.");
}
