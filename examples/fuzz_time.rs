fn main() {
    let dir = std::path::Path::new("fuzz/corpus/check");
    let mut total = std::time::Duration::ZERO;
    let mut worst = (std::time::Duration::ZERO, String::new());
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let data = std::fs::read(&p).unwrap();
        let t = std::time::Instant::now();
        convspec::fuzzing::check(&data);
        let el = t.elapsed();
        total += el;
        n += 1;
        if el > worst.0 {
            worst = (el, p.display().to_string());
        }
    }
    println!("{n} inputs, total {total:?}, worst {worst:?}");
}
