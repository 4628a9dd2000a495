# issue 36's mix (amendment 11): R's sources at R's weights + the eight vivid training collections at 15,000
E=/work/data/extra-train; L=/work/runs/lists; S=/work/shared/data
MIX=(
  --dataset $E/places365_rooms:4000 --dataset $E/intel_scenes:2000 --dataset $E/intel_scene25k:3500
  --dataset $E/har_people:3000 --dataset $E/sports100:2000 --dataset $E/caltech101:2000
  --dataset $E/catsdogs_chanakya:1500 --dataset $E/houses_interiors:1000 --dataset $E/clothing_full:1000
  --dataset $E/flickr8k_sic:1000 --dataset $E/pacs_photo:600 --dataset $E/weather_mc:600
  --dataset $E/camvid:300 --dataset $S/photos/train:1128
  --dataset $E/stanford_cars:3000 --dataset $E/butterflies100:2500 --dataset $E/grocery:2500
  --dataset $E/food101mini:2000 --dataset $E/thaifood20:1500 --dataset $E/flowers5:1500
  --dataset $E/apples_orchard:1000 --dataset $E/flowers17:1000
  --balance images --exclude-list $L/holdout.txt
  --val-dir $L/select-urban100.txt --val-dir $L/select-imagenet-fifth.txt --val-dir $L/select-vivid-5th.txt
)
